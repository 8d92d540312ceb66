"""The one mapping from clientvault's error tree to HTTP responses.

Bodies are ``{"error": {"code", "message", "details"}}``; messages carry no personal data
(services guarantee it), so they are safe to return and to log. Requests for console pages
(paths under ``/console``) get the same statuses as pages instead, rendered by the console
(``web.console.console_error_page``): a redirect to sign in, a styled 403, and so on.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from clientvault.errors import (
    ClientVaultError,
    ConfigurationError,
    Conflict,
    ConsentRequired,
    Erased,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from clientvault.web.console import console_error_page, is_console_path

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[ClientVaultError], int], ...] = (
    (NotFound, 404),
    (Erased, 410),
    (Conflict, 409),
    (PermissionDenied, 403),
    (ConsentRequired, 451),
    (InvalidInput, 422),
    (Unauthenticated, 401),
    (RateLimited, 429),
    (Unavailable, 503),
    (ConfigurationError, 500),
)


def status_for(error: ClientVaultError) -> int:
    """The HTTP status of a clientvault error (500 for an unexpected kind)."""
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 500


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    """The JSON shape of every error response."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping on an app."""

    @app.exception_handler(ClientVaultError)
    async def _clientvault_error(request: Request, exc: ClientVaultError) -> Response:
        status = status_for(exc)
        if status >= 500:
            logger.error("service error %s: %s", exc.code, exc.message)
        if is_console_path(request.url.path):
            return await console_error_page(request, exc, status)
        response = JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status)
        if isinstance(exc, RateLimited) and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(int(exc.details["retry_after"]))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        if is_console_path(request.url.path):
            invalid = InvalidInput("the form or the address is not valid")
            return await console_error_page(request, invalid, 422)
        # Only locations and messages go back: the offending input may be personal data.
        problems = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", "")}
            for error in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_input", "the request is not valid", {"problems": problems}),
            status_code=422,
        )

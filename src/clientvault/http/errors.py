"""The one mapping from clientvault's error tree to HTTP responses.

Bodies are ``{"error": {"code", "message", "details"}}``; messages carry no personal data
(services guarantee it), so they are safe to return and to log. A face that answers with
pages instead hands in its ``ErrorPages`` (the console's: ``web.console.CONSOLE_ERROR_PAGES``):
requests for its paths get the same statuses as pages, rendered by that face (a redirect to
sign in, a styled 403, and so on).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

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


@dataclass(frozen=True)
class ErrorPages:
    """How a face that serves pages answers errors on its own paths."""

    #: Whether a request path belongs to the face (and so gets a page, not JSON).
    owns: Callable[[str], bool]
    #: The page for a clientvault error, given the status the mapping chose.
    render: Callable[[Request, ClientVaultError, int], Awaitable[Response]]


def status_for(error: ClientVaultError) -> int:
    """The HTTP status of a clientvault error (500 for an unexpected kind)."""
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 500


class ErrorDetail(BaseModel):
    """What went wrong: a stable code to branch on, a message for people, and details
    (the field at fault, the problems of an invalid request, a retry delay...)."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no such customer"])
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """The body of every error response of the API (``error_body``)."""

    error: ErrorDetail


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    """The JSON shape of every error response."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def install_error_handlers(app: FastAPI, *, pages: ErrorPages | None = None) -> None:
    """Register the mapping on an app; ``pages`` answers for the paths of a face with pages."""

    @app.exception_handler(ClientVaultError)
    async def _clientvault_error(request: Request, exc: ClientVaultError) -> Response:
        status = status_for(exc)
        if status >= 500:
            logger.error("service error %s: %s", exc.code, exc.message)
        if pages is not None and pages.owns(request.url.path):
            return await pages.render(request, exc, status)
        response = JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status)
        if isinstance(exc, RateLimited) and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(int(exc.details["retry_after"]))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        if pages is not None and pages.owns(request.url.path):
            invalid = InvalidInput("the form or the address is not valid")
            return await pages.render(request, invalid, 422)
        # Only locations and messages go back: the offending input may be personal data.
        problems = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", "")}
            for error in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_input", "the request is not valid", {"problems": problems}),
            status_code=422,
        )

"""Mounting the console: static assets, the favicon, its pages and its "not found" page."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.routes import overview
from clientvault.web.templating import STATIC_DIR, templates

#: Each domain's console pages; a new ``web/routes/<domain>.py`` adds its router here.
ROUTERS = (overview.router,)


def is_console_path(path: str) -> bool:
    """Whether a request path belongs to the console (and so gets HTML error pages)."""
    return path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/")


def install_console(app: FastAPI) -> None:
    """Serve the console under ``/console``, its assets under ``/static`` and the favicon.

    A 404 under ``/console`` renders the console's own "page not found" page (with the
    navigation, so the user can carry on); any other 404 keeps FastAPI's JSON body, which is
    what API clients expect.
    """
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(CONSOLE_PREFIX, status_code=307)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask for /favicon.ico on pages that declare no icon (JSON, the API docs).
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):  # pragma: no cover - Starlette passes these only
            raise exc
        if not is_console_path(request.url.path):
            return await http_exception_handler(request, exc)
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"title": "Page not found", "path": request.url.path},
            status_code=404,
        )

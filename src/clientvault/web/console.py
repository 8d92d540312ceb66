"""Mounting the console: static assets, templates and its pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=_HERE / "templates")


def install_console(app: FastAPI) -> None:
    """Serve the console under ``/console`` and its assets under ``/static``."""
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=307)

    @app.get("/console", include_in_schema=False, response_class=HTMLResponse)
    def console_home(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "home.html", {"title": "Overview"})

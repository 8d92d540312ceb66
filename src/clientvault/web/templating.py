"""The console's Jinja2 environment and the context every page shares.

Routes render with ``render(request, "page.html", {...})`` (or
``templates.TemplateResponse``); the layout's own variables (navigation, signed-in user, the
sign-out form's CSRF token, environment) are added here, so a route passes only what its page
shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from clientvault.http.auth import Caller
from clientvault.web.navigation import build_navigation, page_exists, page_permission

_HERE = Path(__file__).parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"
PRODUCT_NAME = "clientvault"


def layout_context(request: Request) -> dict[str, Any]:
    """Variables the base layout needs on every page.

    The signed-in user is the caller ``http.auth.Authorize`` let through (``request.state.
    caller``); without one the layout shows a "not signed in" placeholder and no sign-out
    button. A signed-in user's navigation leaves out the pages their role may not open.
    """
    settings = getattr(request.app.state, "settings", None)
    caller: Caller | None = getattr(request.state, "caller", None)
    routes = request.app.routes
    allowed = None
    if caller is not None:
        principal = caller.principal

        def allowed(path: str) -> bool:
            needed = page_permission(routes, path)
            return needed in (None, "authenticated") or principal.can(needed)

    return {
        "product_name": PRODUCT_NAME,
        "nav": build_navigation(
            request.url.path, lambda path: page_exists(routes, path), allowed=allowed
        ),
        "user": caller.user if caller is not None else None,
        "session_csrf": (
            caller.staff_session.csrf_token
            if caller is not None and caller.staff_session is not None
            else None
        ),
        "environment": settings.env if settings is not None else None,
    }


def _thousands(value: int) -> str:
    """Format a count with comma-grouped thousands (``12,345``), easier to read at a glance."""
    return f"{value:,}"


def _when(value: datetime | None) -> str:
    """A timestamp as ``2025-01-31 14:05 UTC`` (the console shows every time in UTC)."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _sentence(message: str) -> str:
    """A service's message ("the code is not right") as a sentence on a page."""
    message = message.strip()
    end = "" if message.endswith((".", "!", "?")) else "."
    return message[:1].upper() + message[1:] + end


def _short_id(value: str | None) -> str:
    """An id short enough for a table cell; the full id goes in the cell's ``title``.

    Keeps the *end* of a UUID: clientvault's ids are UUIDv7, whose first characters are the
    creation time and so look alike for everything made the same day.
    """
    if not value:
        return ""
    return f"…{value[-8:]}" if len(value) == 36 and value.count("-") == 4 else value[:24]


def _detail(value: Any) -> str:
    """A detail value as text: lists joined, mappings as ``key value`` pairs, booleans as
    yes / no, ``None`` as a dash: never a Python repr on a page."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_detail(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_detail(item)}" for key, item in value.items())
    return str(value)


def _make_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["thousands"] = _thousands
    environment.filters["when"] = _when
    environment.filters["sentence"] = _sentence
    environment.filters["short_id"] = _short_id
    environment.filters["detail"] = _detail
    return environment


#: The console's templates; StrictUndefined turns a misspelt variable into an error, not a blank.
templates = Jinja2Templates(env=_make_environment(), context_processors=[layout_context])


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a console page; never cached, since console pages show people's data.

    ``Cache-Control: no-store`` keeps one-time secrets (recovery codes, one-time passwords,
    token secrets) and personal data out of the browser's and any proxy's cache.
    """
    response = templates.TemplateResponse(request, name, dict(context), status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response

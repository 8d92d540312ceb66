"""The console's Jinja2 environment and the context every page shares.

Routes render with ``templates.TemplateResponse(request, "page.html", {...})``; the layout's
own variables (navigation, signed-in user, environment) are added here, so a route passes
only what its page shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates

from clientvault.web.navigation import build_navigation, page_exists

_HERE = Path(__file__).parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"
PRODUCT_NAME = "clientvault"


def layout_context(request: Request) -> dict[str, Any]:
    """Variables the base layout needs on every page.

    ``user`` is whatever the authentication layer puts on ``request.state.user`` (nothing
    yet: the layout then shows a "not signed in" placeholder).
    """
    settings = getattr(request.app.state, "settings", None)
    return {
        "product_name": PRODUCT_NAME,
        "nav": build_navigation(
            request.url.path, lambda path: page_exists(request.app.routes, path)
        ),
        "user": getattr(request.state, "user", None),
        "environment": settings.env if settings is not None else None,
    }


def _thousands(value: int) -> str:
    """Format a count with comma-grouped thousands (``12,345``), easier to read at a glance."""
    return f"{value:,}"


def _make_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["thousands"] = _thousands
    return environment


#: The console's templates; StrictUndefined turns a misspelt variable into an error, not a blank.
templates = Jinja2Templates(env=_make_environment(), context_processors=[layout_context])

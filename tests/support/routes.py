"""The app's routes as the tests walk them (the authorisation matrix, parameter checks)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute


def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """Every ``APIRoute`` of an app, those of included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI >= 0.160 keeps included routers as one entry; their own routes are inside.
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)

"""The website's scripts: the tracking snippet at ``/t.js`` and the support chat widget at
``/chat.js``, for sites to include."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["tracking"])


@cache
def _source(name: str) -> bytes:
    return (Path(__file__).parent.parent / "static" / name).read_bytes()


@router.get("/t.js", include_in_schema=False)
def snippet() -> Response:
    """The snippet, cacheable for an hour, usable from any site (it is public code)."""
    return _script("t.js")


@router.get("/chat.js", include_in_schema=False)
def chat_widget() -> Response:
    """The support chat widget, served like the snippet."""
    return _script("chat.js")


def _script(name: str) -> Response:
    return Response(
        _source(name),
        media_type="application/javascript",
        headers={
            "Cache-Control": "public, max-age=3600",
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        },
    )

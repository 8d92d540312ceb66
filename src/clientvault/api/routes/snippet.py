"""The website snippet, served at ``/t.js`` for sites to include."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["tracking"])


@cache
def _snippet_source() -> bytes:
    return (Path(__file__).parent.parent / "static" / "t.js").read_bytes()


@router.get("/t.js", include_in_schema=False)
def snippet() -> Response:
    """The snippet, cacheable for an hour, usable from any site (it is public code)."""
    return Response(
        _snippet_source(),
        media_type="application/javascript",
        headers={
            "Cache-Control": "public, max-age=3600",
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        },
    )

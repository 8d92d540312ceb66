"""Calls from a website's scripts other than tracking (the chat widget, personalised
content): checked by write key and origin as tracking calls are, and answered to the page's
origin only."""

from __future__ import annotations

from fastapi import Request, Response

from clientvault.errors import PermissionDenied, Unauthenticated
from clientvault.http.deps import get_store
from clientvault.ingest.sources import authenticate, preflight_allowed


def check_site_call(request: Request, response: Response, write_key: str) -> None:
    """Refuse an unknown or revoked write key, or an origin the source does not accept; let
    the page's origin read the answer."""
    source = authenticate(get_store(request).engine, write_key=write_key)
    if source is None:
        raise Unauthenticated("unknown or revoked write key")
    origin = request.headers.get("origin")
    if not source.allows(origin):
        raise PermissionDenied("this write key does not accept calls from this origin")
    response.headers["Vary"] = "Origin"
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin


def site_preflight(request: Request) -> Response:
    """A browser's CORS preflight for a site call: allowed when some source accepts the
    origin."""
    origin = request.headers.get("origin")
    if origin is None or not preflight_allowed(get_store(request).engine, origin):
        return Response(status_code=403 if origin else 204)
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "7200",
            "Vary": "Origin",
        },
    )

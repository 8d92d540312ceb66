"""Security headers and request-size limits for every HTTP response, as one pure ASGI middleware.

Why pure ASGI rather than ``BaseHTTPMiddleware``: it runs on every request, including the
tracking API's hot path, so it only looks at the path and the headers, adds precomputed byte
strings to the response start message, and never buffers a body.

What it adds (OWASP ASVS V14.4):

* everywhere: a Content-Security-Policy without inline scripts or styles (the console and the
  API docs load their code from files we serve), ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'`` (no clickjacking),
  ``Referrer-Policy: strict-origin-when-cross-origin`` (URLs holding customer ids or
  preference-centre tokens never leave as a referrer; unlike ``no-referrer`` it keeps the
  ``Origin`` header of same-origin form posts meaningful), a Permissions-Policy switching off
  powerful browser features, and ``Cross-Origin-Opener-Policy: same-origin``;
* ``Strict-Transport-Security`` only when the request came over TLS (``scope["scheme"]`` is
  ``https``: uvicorn serving TLS itself, or a trusted proxy's ``X-Forwarded-Proto``), since
  browsers ignore it over plain HTTP and a development server on HTTP must stay reachable;
* ``Cache-Control: no-store`` on the API, the console and the preference centre, whose
  answers can carry personal data, replacing whatever a route set; static assets (Swagger UI's,
  the console's) and the public snippet keep their caching;
* ``Cross-Origin-Resource-Policy``: ``same-origin`` on those same private areas and their
  assets; ``cross-origin`` on ``/t.js`` and the tracking API under ``/v1/``, which customers'
  own sites load and call from their origin.

Request bodies are limited by path prefix: 1 MiB by default (JSON API bodies, console forms),
200 MiB for uploads under ``/api/v1/imports/``; the tracking API under ``/v1/`` keeps its own
32 KB / 500 KB limits and Segment-shaped errors, so it is left to its route. A declared
``Content-Length`` over the limit is answered 413 before the app runs; a body without one
(chunked) is counted as it is received and the app is stopped at the chunk that crosses the
limit, so the server never reads past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
HSTS = "max-age=63072000; includeSubDomains"
MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1 * MIB
UPLOAD_MAX_BODY_BYTES = 200 * MIB


@dataclass(frozen=True)
class BodyLimit:
    """The largest request body accepted under a path prefix; ``None``: the route enforces
    its own limit (and answers in its own error shape)."""

    prefix: str
    max_bytes: int | None


#: Checked in order; the first matching prefix wins, else ``max_body_bytes`` applies.
DEFAULT_BODY_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit("/v1/", None),  # tracking API: 32 KB per event, 500 KB per batch, in the route
    BodyLimit("/api/v1/imports/", UPLOAD_MAX_BODY_BYTES),
)
#: Areas whose responses can carry personal data: never stored by a browser or proxy cache.
PRIVATE_PREFIXES: tuple[str, ...] = ("/api", "/console", "/preferences")
#: Static files inside or beside those areas: cacheable, no personal data.
ASSET_PREFIXES: tuple[str, ...] = ("/api/docs-assets", "/static")
#: Loaded or called from customers' own sites: must stay usable cross-origin.
PUBLIC_PREFIXES: tuple[str, ...] = ("/t.js", "/v1")


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in prefixes)


def _pairs(*headers: tuple[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
    )


_COMMON = _pairs(
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_HSTS = _pairs(("Strict-Transport-Security", HSTS))
_NO_STORE = _pairs(("Cache-Control", "no-store"))
_SAME_ORIGIN = _pairs(("Cross-Origin-Resource-Policy", "same-origin"))
_CROSS_ORIGIN = _pairs(("Cross-Origin-Resource-Policy", "cross-origin"))
_CACHE_CONTROL = b"cache-control"


class _BodyTooLarge(Exception):
    """Raised into the app by ``receive`` when the body crosses the limit."""


class SecurityHeaders:
    """ASGI middleware: security headers on every response, request bodies limited by path.

    ``app.add_middleware(SecurityHeaders)`` last, so that it is the outermost of the app's
    own middleware and limits the body before any other reads it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_limits: Sequence[BodyLimit] = DEFAULT_BODY_LIMITS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = tuple(body_limits)

    def limit_for(self, path: str) -> int | None:
        """The body limit for a request path (``None``: left to the route)."""
        for rule in self.body_limits:
            if _under(path, (rule.prefix,)):
                return rule.max_bytes
        return self.max_body_bytes

    @staticmethod
    def headers_for(path: str, *, https: bool) -> tuple[tuple[bytes, bytes], ...]:
        """The headers added to a response for this path (names lower-case, as in ASGI)."""
        headers = _COMMON
        if https:
            headers += _HSTS
        if _under(path, PUBLIC_PREFIXES):
            return headers + _CROSS_ORIGIN
        if _under(path, ASSET_PREFIXES):
            return headers + _SAME_ORIGIN
        if _under(path, PRIVATE_PREFIXES):
            return headers + _SAME_ORIGIN + _NO_STORE
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        added = self.headers_for(path, https=scope.get("scheme") == "https")
        no_store = _NO_STORE[0] in added
        limit = self.limit_for(path)
        if limit is not None and _declared_length(scope) > limit:
            await _refuse(send, added, limit)
            return

        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:  # the app insists on reading on: it gets no more of the body
                raise _BodyTooLarge
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # whatever the app makes of the error, the answer is our 413
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = _merged(message.get("headers", ()), added, no_store)
            await send(message)

        try:
            await self.app(scope, receive if limit is None else limited_receive, send_with_headers)
        except Exception:
            # _BodyTooLarge itself, or whatever the app turned it into on its way out.
            if not too_large:
                raise
        if too_large and not started:
            await _refuse(send, added, limit or 0)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0  # malformed: the server refuses it
    return 0


def _merged(
    existing: Sequence[tuple[bytes, bytes]],
    added: Sequence[tuple[bytes, bytes]],
    no_store: bool,
) -> list[tuple[bytes, bytes]]:
    """The app's headers plus ours; the app's own value wins, except that ``no-store``
    replaces any ``Cache-Control`` in the private areas."""
    headers = [
        (name, value) for name, value in existing if not (no_store and name == _CACHE_CONTROL)
    ]
    present = {name.lower() for name, _ in headers}
    headers.extend(pair for pair in added if pair[0] not in present)
    return headers


def _size(limit: int) -> str:
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    return f"{limit // 1024} KiB" if limit >= 1024 else f"{limit} bytes"


async def _refuse(send: Send, added: Sequence[tuple[bytes, bytes]], limit: int) -> None:
    """413 in the API's error shape; ``Connection: close`` so the rest of the body is not
    read to keep the connection alive."""
    body = orjson.dumps(
        {
            "error": {
                "code": "payload_too_large",
                "message": f"the request body is larger than {_size(limit)}",
                "details": {"limit_bytes": limit},
            }
        }
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"connection", b"close"),
        *added,
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})

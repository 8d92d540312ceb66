"""A shop's web page, served from another loopback origin than clientvault's, for the
browser tests of the website scripts (snippet, chat widget, personalised content)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def serve_page(serve_app: Callable[[Any], str], html: str) -> str:
    """Serve ``html`` at ``http://localhost:PORT/`` (another origin than the 127.0.0.1 of
    the clientvault server) and return that URL."""

    async def shop_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": html.encode()})

    return serve_app(shop_app).replace("127.0.0.1", "localhost") + "/"

"""Security headers and request-size limits (``clientvault.http.headers.SecurityHeaders``).

Two levels: the real app through TestClient (which headers each kind of route gets, that the
tracking API and the snippet stay usable from customers' sites, the docs page's lack of inline
code), and the middleware alone around small ASGI apps, driven message by message, to show
that an oversized body is refused without the server reading past the limit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clientvault.api.routes.imports import MAX_UPLOAD_BYTES
from clientvault.app import create_app
from clientvault.http.headers import (
    CONTENT_SECURITY_POLICY,
    DEFAULT_MAX_BODY_BYTES,
    HSTS,
    UPLOAD_MAX_BODY_BYTES,
    SecurityHeaders,
)
from clientvault.ingest.spec import MAX_BATCH_BYTES
from clientvault.settings import Settings
from clientvault.store.context import Store

COMMON = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.fixture
def plain_client(db: Store, db_settings: Settings) -> Iterator[TestClient]:
    """The app over plain HTTP, as a development server without TLS serves it."""
    with TestClient(create_app(db_settings, store=db), base_url="http://testserver") as client:
        yield client


# ---- the real app --------------------------------------------------------------------------


def test_csp_has_no_unsafe_sources_and_forbids_framing() -> None:
    directives = dict(
        part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";") if part.strip()
    )
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "path", ["/console", "/healthz", "/api/openapi.json", "/api/docs", "/api/v1/me", "/nope"]
)
def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (path, name)
    assert "permissions-policy" in response.headers
    assert response.headers["strict-transport-security"] == HSTS


def test_hsts_only_when_the_request_came_over_tls(
    client: TestClient, plain_client: TestClient
) -> None:
    assert client.get("/healthz").headers["strict-transport-security"] == HSTS
    plain = plain_client.get("/healthz")
    assert plain.status_code == 200
    assert "strict-transport-security" not in plain.headers
    assert plain.headers["x-frame-options"] == "DENY"  # the rest applies on HTTP too


@pytest.mark.parametrize("path", ["/console", "/api/openapi.json", "/api/v1/me", "/api/docs"])
def test_answers_that_may_carry_personal_data_are_never_stored(
    client: TestClient, path: str
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.headers.get_list("cache-control") == ["no-store"], path
    assert response.headers["cross-origin-resource-policy"] == "same-origin"


@pytest.mark.parametrize(
    "path",
    [
        "/static/console.css",
        "/api/docs-assets/swagger-ui.css",
        "/api/docs-assets/clientvault-docs.js",
    ],
)
def test_static_assets_stay_cacheable(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, path
    assert "no-store" not in response.headers.get("cache-control", "")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_snippet_stays_public_and_cross_origin(client: TestClient) -> None:
    response = client.get("/t.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]  # not doubled


def test_tracking_api_stays_callable_cross_origin(client: TestClient, write_key: str) -> None:
    response = client.post(
        "/v1/track",
        json={"anonymousId": "a-1", "event": "Viewed", "messageId": "h-1"},
        auth=(write_key, ""),
        headers={"origin": "https://shop.example.com"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "no-store" not in response.headers.get("cache-control", "")


class _Markup(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, style attributes and
    elements, event-handler attributes, ``javascript:`` URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts.append(values)
            self._in_script = True
        if tag == "style":
            self.inline.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"{tag}[{name}]")
            if value and value.strip().lower().startswith("javascript:"):
                self.inline.append(f"{tag}[{name}]=javascript:")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"inline script: {data.strip()[:40]}")


@pytest.mark.parametrize("path", ["/api/docs", "/console"])
def test_pages_have_no_inline_code_the_csp_would_block(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 200, path
    markup = _Markup()
    markup.feed(response.text)
    assert markup.inline == []
    for script in markup.scripts:
        source = script.get("src") or ""
        assert source.startswith("/"), f"script from elsewhere: {source!r}"
        assert client.get(source).status_code == 200, source


def test_docs_start_up_script_reads_the_openapi_url_from_the_page(client: TestClient) -> None:
    page = client.get("/api/docs").text
    assert 'data-openapi-url="/api/openapi.json"' in page
    script = client.get("/api/docs-assets/clientvault-docs.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "SwaggerUIBundle(" in script.text
    assert "validatorUrl: null" in script.text


def test_oversized_json_body_is_refused_with_413(client: TestClient) -> None:
    body = json.dumps({"email": "x@example.com", "password": "p" * DEFAULT_MAX_BODY_BYTES})
    response = client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_oversized_body_without_content_length_is_refused_too(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "x@example.com", "password": "'
        for _ in range(20):
            yield b"p" * 65536
        yield b'"}'

    response = client.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_tracking_api_answers_its_own_limit_in_segment_shape(
    client: TestClient, write_key: str
) -> None:
    batch = {"batch": [{"type": "track", "event": "e", "anonymousId": "a" * 900_000}]}
    response = client.post("/v1/batch", json=batch, auth=(write_key, ""))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"  # the route's, Segment-shaped


# ---- the middleware alone ------------------------------------------------------------------

Message = dict[str, Any]


def _run(
    app: Callable[..., Any],
    *,
    path: str,
    chunks: list[bytes],
    content_length: int | None = None,
    max_body_bytes: int = 1000,
) -> tuple[list[Message], int]:
    """Send one POST through ``SecurityHeaders(app)``; return what it sent and how many body
    chunks were pulled from the (simulated) connection."""
    headers = [(b"content-type", b"application/octet-stream")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "scheme": "http",
        "method": "POST",
        "path": path,
        "headers": headers,
    }
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        if pulled >= len(chunks):
            return {"type": "http.disconnect"}
        pulled += 1
        return {
            "type": "http.request",
            "body": chunks[pulled - 1],
            "more_body": pulled < len(chunks),
        }

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(SecurityHeaders(app, max_body_bytes=max_body_bytes)(scope, receive, send))
    return sent, pulled


async def _echo_length(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body and answers 200 with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _status(sent: list[Message]) -> int:
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    return int(start["status"])


def test_declared_length_over_the_limit_never_reaches_the_app() -> None:
    called = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal called
        called = True

    sent, pulled = _run(app, path="/api/v1/things", chunks=[b"x" * 2000], content_length=2000)
    assert _status(sent) == 413
    assert (not called, pulled) == (True, 0)
    assert (b"connection", b"close") in sent[0]["headers"]


def test_streamed_body_is_cut_at_the_chunk_that_crosses_the_limit() -> None:
    chunks = [b"x" * 300] * 10  # 3000 bytes in all, limit 1000: the 4th chunk crosses it
    sent, pulled = _run(_echo_length, path="/api/v1/things", chunks=chunks)
    assert _status(sent) == 413
    assert pulled == 4
    assert json.loads(sent[1]["body"])["error"]["details"] == {"limit_bytes": 1000}


def test_body_within_the_limit_goes_through_untouched() -> None:
    sent, pulled = _run(_echo_length, path="/api/v1/things", chunks=[b"x" * 500, b"y" * 500])
    assert (_status(sent), sent[1]["body"], pulled) == (200, b"1000", 2)


def test_an_app_that_swallows_the_error_still_answers_413() -> None:
    async def stubborn(scope: Any, receive: Any, send: Any) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception:
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"bad body"})

    sent, pulled = _run(stubborn, path="/console/form", chunks=[b"x" * 600] * 5)
    assert _status(sent) == 413
    assert pulled == 2
    assert b"bad body" not in b"".join(m.get("body", b"") for m in sent)


def test_upload_routes_get_the_larger_limit_and_tracking_keeps_its_own() -> None:
    assert UPLOAD_MAX_BODY_BYTES == MAX_UPLOAD_BYTES  # the route's own limit: one number
    assert MAX_BATCH_BYTES < DEFAULT_MAX_BODY_BYTES
    middleware = SecurityHeaders(_echo_length)
    assert middleware.limit_for("/api/v1/imports/customers") == UPLOAD_MAX_BODY_BYTES
    assert middleware.limit_for("/api/v1/users") == DEFAULT_MAX_BODY_BYTES
    assert middleware.limit_for("/console/account") == DEFAULT_MAX_BODY_BYTES
    assert middleware.limit_for("/v1/batch") is None

    two_kib = [b"x" * 1024] * 2
    assert _status(_run(_echo_length, path="/api/v1/imports/events", chunks=two_kib)[0]) == 200
    assert _status(_run(_echo_length, path="/v1/batch", chunks=two_kib)[0]) == 200
    assert _status(_run(_echo_length, path="/api/v1/users", chunks=two_kib)[0]) == 413


def test_a_route_cache_control_is_replaced_only_where_personal_data_may_be() -> None:
    async def cacheable(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"cache-control", b"public, max-age=600")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    def cache_control(path: str) -> list[bytes]:
        sent, _ = _run(cacheable, path=path, chunks=[b""])
        return [value for name, value in sent[0]["headers"] if name == b"cache-control"]

    assert cache_control("/api/v1/customers") == [b"no-store"]
    assert cache_control("/console/customers") == [b"no-store"]
    assert cache_control("/static/console.css") == [b"public, max-age=600"]
    assert cache_control("/t.js") == [b"public, max-age=600"]

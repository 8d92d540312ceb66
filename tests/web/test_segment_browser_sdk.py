"""Segment's browser SDK (``@segment/analytics-next``, unmodified, from the npm registry) in
Debian chromium, on a shop page served from another origin than the server.

The page loads the package's UMD build from the shop's own server and is given
``cdnSettings`` (and a CDN address of its own for the SDK's lazily loaded chunks), so nothing
is fetched from the internet: a request to any other host fails the test.
The SDK posts ``text/plain`` JSON to Segment's short paths (``/v1/i``, ``/v1/t``…, or
``/v1/b`` when batching) with ``Authorization: Basic``, so the browser sends a CORS
preflight first. Each delivery strategy must land every call — identify, track, page,
screen, group, alias — with its fields; a source whose origin list does not name the shop
stores nothing.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from clientvault.automation.worker import run_until_idle
from clientvault.domains import CONSUMERS
from clientvault.ingest.models import Event, Group, GroupMember
from clientvault.ingest.sources import create_source
from support.sdk_clients import install_sdk_clients

pytestmark = pytest.mark.web

ORDER = {"order_id": "o-3003", "total": 12.5, "currency": "EUR"}
PAGE = {"path": "/pricing", "title": "Pricing"}
SCREEN = {"tab": "feed"}
GROUP_TRAITS = {"name": "Acme Corp", "employees": 120, "plan": "enterprise"}
#: One call of each kind, run in the page in order (each awaited: the SDK resolves a call
#: once its plugins have handled it, which with batching is before it is sent).
CALLS = (
    """
async ({tag}) => {
  const a = window.shopAnalytics
  await a.identify(`web-user-${tag}`, {email: `lea.martin.${tag}@example.com`, plan: 'pro'})
  await a.track('Order Completed', ORDER)
  await a.page('Docs', 'Pricing', PAGE)
  await a.screen('Home', SCREEN)
  await a.group(`acct-${tag}`, GROUP)
  await a.alias(`web-new-${tag}`, `web-user-${tag}`)
}
""".replace("ORDER", orjson.dumps(ORDER).decode())
    .replace("PAGE", orjson.dumps(PAGE).decode())
    .replace("SCREEN", orjson.dumps(SCREEN).decode())
    .replace("GROUP", orjson.dumps(GROUP_TRAITS).decode())
)


@pytest.fixture(scope="session")
def umd_bundle() -> Path:
    """The browser SDK's UMD build (``AnalyticsNext`` global) and its lazily loaded chunks."""
    return install_sdk_clients() / "node_modules/@segment/analytics-next/dist/umd"


def _shop(serve_app: Any, umd: Path, server_url: str, write_key: str, delivery: Any) -> str:
    """Serve a shop page that loads the SDK from the shop's own origin, pointed at our server."""
    api_host = urlsplit(server_url).netloc + "/v1"
    segment_io: dict[str, Any] = {"apiHost": api_host, "protocol": "http"}
    if delivery is not None:
        segment_io["deliveryStrategy"] = delivery
    settings = {
        "writeKey": write_key,
        # What Segment's CDN would answer for this source: only its own destination.
        "cdnSettings": {"integrations": {"Segment.io": {"apiKey": write_key}}},
    }
    options = {"integrations": {"Segment.io": segment_io}}
    html = (
        "<!doctype html><html><head><title>Shop</title><link rel='icon' href='data:,'>"
        # The SDK loads its chunks from "<cdn>/analytics-next/bundles/": the shop serves them.
        "<script>window.analytics = {_cdn: location.origin}</script>"
        "<script src='/analytics-next/bundles/index.js'></script>"
        "<script>window.loaded = AnalyticsNext.AnalyticsBrowser.load("
        f"{orjson.dumps(settings).decode()}, {orjson.dumps(options).decode()}"
        ").then(([analytics]) => { window.shopAnalytics = analytics })</script>"
        "</head><body><h1>Shop</h1></body></html>"
    )

    async def page(_request: Any) -> HTMLResponse:
        return HTMLResponse(html)

    shop = Starlette(
        routes=[
            Route("/", page),
            Mount("/analytics-next/bundles", StaticFiles(directory=umd)),
        ]
    )
    return serve_app(shop).replace("127.0.0.1", "localhost") + "/"


def _open(page: Any, shop: str) -> list[str]:
    """Open the shop; the list (filled as the page runs) of requests to any other host than
    our two servers. Watched, not intercepted: with request interception Playwright answers
    CORS preflights itself, and the server's own answers are what is under test."""
    outside: list[str] = []

    def watch(request: Any) -> None:
        if urlsplit(request.url).hostname not in ("localhost", "127.0.0.1"):
            outside.append(request.url)

    page.on("request", watch)
    page.goto(shop)
    page.wait_for_function("window.shopAnalytics !== undefined")
    return outside


def _events(
    page: Any, store: Any, source: str, expected: int, timeout: float = 10.0
) -> list[Event]:
    """The source's events once there are ``expected`` (or the timeout passed); waits through
    the page, so that Playwright keeps delivering its events meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        with store.sessions() as session:
            events = list(
                session.scalars(select(Event).where(Event.source == source).order_by(Event.id))
            )
        if len(events) >= expected or time.monotonic() > deadline:
            return events
        page.wait_for_timeout(50)


@pytest.mark.parametrize(
    ("delivery", "paths"),
    [
        pytest.param(None, {"/v1/i", "/v1/t", "/v1/p", "/v1/s", "/v1/g", "/v1/a"}, id="standard"),
        pytest.param(
            {"strategy": "batching", "config": {"size": 4, "timeout": 300}},
            {"/v1/b"},
            id="batching",
        ),
    ],
)
def test_the_browser_sdk_delivers_every_call_cross_origin(
    page: Any,
    serve_app: Any,
    live_server: Any,
    umd_bundle: Path,
    delivery: Any,
    paths: set[str],
) -> None:
    name = f"web-{uuid.uuid4().hex[:8]}"
    with live_server.store.sessions.begin() as session:
        write_key = create_source(session, name=name).write_key
    shop = _shop(serve_app, umd_bundle, live_server.url, write_key, delivery)
    posted: list[Any] = []
    page.on(
        "request",
        lambda r: posted.append(r) if r.url.startswith(live_server.url) else None,
    )
    outside = _open(page, shop)
    tag = uuid.uuid4().hex[:8]
    page.evaluate(CALLS, {"tag": tag})

    events = _events(page, live_server.store, name, 6)
    assert outside == [], "the page fetched something from the internet"
    assert {urlsplit(r.url).path for r in posted if r.method == "POST"} == paths
    # Cross-origin, with an Authorization header: the browser had to pass a preflight first
    # (Playwright does not report preflights as requests of their own).
    headers = [r.all_headers() for r in posted]
    assert all(h["origin"] == shop.rstrip("/") for h in headers)
    assert all(h["authorization"].startswith("Basic ") for h in headers)
    assert all(h["content-type"] == "text/plain" for h in headers)
    # Each message the SDK sent is stored under its message id, with its user.
    bodies = [orjson.loads(r.post_data) for r in posted if r.method == "POST"]
    sent = [m for body in bodies for m in body.get("batch", [body])]
    stored = {e.message_id: e for e in events}
    assert sorted(stored) == sorted(m["messageId"] for m in sent)
    for message in sent:
        event = stored[message["messageId"]]
        assert event.type == message["type"]
        assert event.user_index == live_server.store.index("user_id", message["userId"])
    by_type = {e.type: e for e in events}
    assert len(events) == 6
    assert sorted(by_type) == [
        "alias",
        "group",
        "identify",
        "page",
        "screen",
        "track",
    ]
    assert by_type["track"].name == "Order Completed"
    assert by_type["track"].properties == ORDER
    assert by_type["page"].name == "Pricing"
    assert {**PAGE, "category": "Docs"}.items() <= by_type["page"].properties.items()
    assert by_type["screen"].name == "Home"
    assert by_type["screen"].properties == SCREEN
    assert by_type["group"].properties == {"groupId": f"acct-{tag}", "traits": GROUP_TRAITS}
    assert set(by_type["identify"].properties["traits"]) == {"email", "plan"}
    assert all(e.context["library"]["name"] == "analytics.js" for e in events)
    customers = {e.customer_id for e in events}
    assert len(customers) == 1
    assert None not in customers

    run_until_idle(live_server.store, CONSUMERS)
    with live_server.store.sessions() as session:
        group = session.scalar(select(Group).where(Group.group_key == f"acct-{tag}"))
        assert group is not None
        assert group.traits == GROUP_TRAITS
        members = session.scalars(
            select(GroupMember.customer_id).where(GroupMember.group_id == group.id)
        )
        assert list(members) == list(customers)


def test_a_source_limited_to_other_origins_stores_nothing_from_the_shop(
    page: Any, page_problems: Any, serve_app: Any, live_server: Any, umd_bundle: Path
) -> None:
    """The preflight passes (another source accepts every origin) but the call, which carries
    the key, is refused: 403, readable by the SDK, and nothing stored."""
    with live_server.store.sessions.begin() as session:
        create_source(session, name="open")
        write_key = create_source(
            session, name="elsewhere", origins=["https://shop.example.com"]
        ).write_key
    for path in ("/v1/t", "/v1/i", "/v1/p", "/v1/s", "/v1/g", "/v1/a"):
        page_problems.expect_status(403, path)
    shop = _shop(serve_app, umd_bundle, live_server.url, write_key, None)
    refused: list[int] = []
    page.on(
        "response",
        lambda r: refused.append(r.status) if r.request.method == "POST" else None,
    )
    _open(page, shop)
    page.evaluate(CALLS, {"tag": "x"})
    deadline = time.monotonic() + 5
    while len(refused) < 6 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert refused == [403] * 6
    assert _events(page, live_server.store, "elsewhere", 1, timeout=0.5) == []


def test_a_preflight_no_source_accepts_stops_the_call_in_the_browser(
    browser: Any, serve_app: Any, live_server: Any, umd_bundle: Path
) -> None:
    """With every source limited to other origins, the preflight itself is refused: the
    browser never sends the call (chromium reports the CORS failure), nothing is stored."""
    with live_server.store.sessions.begin() as session:
        write_key = create_source(
            session, name="elsewhere", origins=["https://shop.example.com"]
        ).write_key
    shop = _shop(serve_app, umd_bundle, live_server.url, write_key, None)
    context = browser.new_context()
    try:
        page = context.new_page()
        failed: list[str] = []
        console: list[str] = []
        page.on(
            "requestfailed",
            lambda r: (
                failed.append(f"{r.method} {urlsplit(r.url).path}")
                if r.url.startswith(live_server.url)
                else None
            ),
        )
        page.on("console", lambda m: console.append(m.text))
        _open(page, shop)
        page.evaluate("window.shopAnalytics.track('Order Completed', {total: 1})")
        deadline = time.monotonic() + 5
        while not failed and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert failed[:1] == ["POST /v1/t"]
        assert any("preflight" in line and "CORS" in line for line in console), console
        assert _events(page, live_server.store, "elsewhere", 1, timeout=0.5) == []
    finally:
        context.close()

"""The website snippet in Debian chromium: page view, click with coordinates, identify land in
the database; nothing is sent before consent or against a privacy signal when so configured."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from clientvault.ingest.models import Event
from clientvault.ingest.sources import create_source
from support.browser import html_app

pytestmark = pytest.mark.web


def _shop(page: Any, serve_app: Any, server_url: str, write_key: str, **options: str) -> str:
    """Serve a shop page that includes the snippet from another loopback origin; open it."""
    attributes = " ".join(
        f'data-{name.replace("_", "-")}="{value}"' for name, value in options.items()
    )
    html = (
        "<!doctype html><html><head><title>Shop</title>"
        "<link rel='icon' href='data:,'></head><body style='height:2000px'>"
        "<button id='buy' style='margin:300px 0 0 400px'>Buy</button>"
        f"<script src='{server_url}/t.js' data-write-key='{write_key}' {attributes}></script>"
        "</body></html>"
    )

    shop = serve_app(html_app(html)).replace("127.0.0.1", "localhost") + "/"
    page.goto(shop)
    page.wait_for_function("window.clientvault !== undefined")
    return shop


def _events(live_server: Any, expected: int, *, timeout: float = 5.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        with live_server.store.sessions() as session:
            events = list(session.scalars(select(Event).order_by(Event.id)))
        if len(events) >= expected or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


@pytest.fixture
def write_key(live_server: Any) -> str:
    with live_server.store.sessions.begin() as session:
        return create_source(session, name="shop").write_key


def test_page_click_and_identify_land(
    page: Any, serve_app: Any, live_server: Any, write_key: str
) -> None:
    shop = _shop(page, serve_app, live_server.url, write_key)
    page.click("#buy")
    page.evaluate(
        "clientvault.identify('shopper-42', {email: 'shopper42@example.com', plan: 'gold'})"
    )
    page.evaluate("clientvault.flush()")
    events = _events(live_server, 3)
    by_type = {(e.type, e.name): e for e in events}
    assert set(by_type) == {("page", "Shop"), ("track", "Element Clicked"), ("identify", None)}
    click = by_type[("track", "Element Clicked")]
    assert 0 < click.properties["x"] < 1
    assert 0 < click.properties["y"] < 1
    assert click.properties["element"] == "#buy"
    assert click.properties["viewport"] == {"width": 1280, "height": 800}
    assert by_type[("page", "Shop")].context["page"]["url"] == shop
    assert len({e.customer_id for e in events}) == 1
    assert events[0].customer_id is not None
    assert "shopper42" not in repr([(e.properties, e.context) for e in events])


def test_nothing_is_sent_before_consent(
    page: Any, serve_app: Any, live_server: Any, write_key: str
) -> None:
    _shop(page, serve_app, live_server.url, write_key, require_consent="true")
    page.click("#buy")
    page.evaluate("clientvault.flush()")
    assert _events(live_server, 1, timeout=1.0) == []
    page.evaluate("clientvault.consent(true); clientvault.track('Consented'); clientvault.flush()")
    assert [e.name for e in _events(live_server, 1)] == ["Consented"]


def test_global_privacy_control_is_honoured_when_configured(
    page: Any, serve_app: Any, live_server: Any, write_key: str
) -> None:
    page.add_init_script(
        "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
    )
    _shop(page, serve_app, live_server.url, write_key, respect_gpc="true")
    page.click("#buy")
    page.evaluate("clientvault.track('Should not land'); clientvault.flush()")
    assert _events(live_server, 1, timeout=1.0) == []
    assert "cv_aid" not in {c["name"] for c in page.context.cookies()}


def test_experiment_assignment_and_exposure(
    page: Any, serve_app: Any, live_server: Any, write_key: str
) -> None:
    from clientvault.analytics import experiments

    with live_server.store.sessions.begin() as session:
        experiments.create(
            session,
            key="hero",
            name="Hero",
            variants=[("control", 1), ("photo", 1)],
            goal={"kind": "event", "event": "Order Completed"},
        )
    _shop(page, serve_app, live_server.url, write_key)
    variant = page.evaluate("clientvault.experiment('hero')")
    assert variant in ("control", "photo")
    assert page.evaluate("clientvault.experiment('hero')") == variant  # the same visitor
    page.evaluate("clientvault.flush()")
    viewed = [e for e in _events(live_server, 3) if e.name == "Experiment Viewed"]
    assert viewed
    assert viewed[0].properties == {"experiment_id": "hero", "variation_id": variant}


def test_scroll_depth_is_sent_when_the_page_is_left(
    page: Any, serve_app: Any, live_server: Any, write_key: str
) -> None:
    _shop(page, serve_app, live_server.url, write_key)
    page.evaluate("window.scrollTo(0, 600)")
    expected = page.evaluate(
        "Math.round((window.scrollY + innerHeight) / document.documentElement.scrollHeight * 100)"
    )
    page.evaluate("window.dispatchEvent(new Event('pagehide'))")  # leaving: depth, then flush
    scrolled = [e for e in _events(live_server, 2) if e.name == "Page Scrolled"]
    assert 50 < expected < 100  # 600 px down a 2,000 px page in an 800 px window
    assert [e.properties["depth"] for e in scrolled] == [expected]
    assert scrolled[0].properties["path"] == "/"
    assert scrolled[0].properties["viewport"] == {"width": 1280, "height": 800}

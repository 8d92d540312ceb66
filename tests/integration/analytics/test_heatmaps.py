"""Click heatmaps on hand-placed clicks: density with small cells suppressed, viewport
classes, rage clicks and dead clicks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from clientvault.analytics import heatmaps, kpis
from clientvault.errors import InvalidInput
from clientvault.ingest.models import Event
from clientvault.store.context import Store

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
RANGE = kpis.Filters(T0 - timedelta(days=1), T0 + timedelta(days=1))


def _click(n: int, who: int, seconds: float, x: float, y: float, **extra: Any) -> dict[str, Any]:
    at = T0 + timedelta(seconds=seconds)
    properties = {"x": x, "y": y, "path": extra.get("path", "/home"),
                  "viewport": {"width": extra.get("width", 1280), "height": 800},
                  "element": extra.get("element", "button")}  # fmt: skip
    return {"message_id": f"c{n}", "type": "track", "name": extra.get("name", "Element Clicked"),
            "anonymous_index": bytes([who]) * 32, "occurred_at": at, "received_at": at,
            "source": "web", "properties": properties, "context": {}}  # fmt: skip


def test_heatmap_density_rage_and_dead_clicks(db: Store) -> None:
    rows = [_click(n, n, 10 * n, 0.51, 0.11) for n in range(6)]  # six people, one cell
    rows += [_click(10 + k, 0, 100 + 0.2 * k, 0.8, 0.8) for k in range(3)]  # a rage burst
    rows.append(_click(20, 1, 300, 0.2, 0.9, width=375))  # a phone: not in desktop
    rows.append(_click(21, 2, 400, 0.2, 0.5, path="/other"))
    # Person 3 gets a page view one second after their click: that click was not dead.
    rows.append(_click(22, 3, 31, 0.0, 0.0, name="Page Viewed"))
    rows.append(_click(23, 4, 500, 0.3, 0.3, element="a"))  # a link: never a dead click
    with db.sessions.begin() as session:
        session.execute(insert(Event), rows)
    with db.sessions() as session:
        desktop = heatmaps.compute(session, RANGE, "/home", "desktop", min_group=5)
        mobile = heatmaps.compute(session, RANGE, "/home", "mobile", min_group=1)
        listed = heatmaps.pages(session, RANGE)
    assert (desktop.clicks, desktop.people) == (10, 6)
    cell = (int(0.11 * heatmaps.GRID), int(0.51 * heatmaps.GRID))
    assert desktop.density[cell[0]][cell[1]] == 6
    assert sum(map(sum, desktop.density)) == 6  # the burst's cell has one person: suppressed
    assert desktop.rage_clicks == 1
    # Dead: the six first clicks but person 3's, and the three burst clicks.
    assert desktop.dead_clicks == 5 + 3
    assert [e["element"] for e in desktop.elements] == ["button"]
    assert (mobile.clicks, mobile.people) == (1, 1)
    assert listed == [("/home", 11), ("/other", 1)]
    with db.sessions() as session, pytest.raises(InvalidInput):
        heatmaps.compute(session, RANGE, "/home", "watch", min_group=5)


def _scrolled(
    n: int, who: int, depth: Any, width: int = 1280, path: str = "/home"
) -> dict[str, Any]:
    at = T0 + timedelta(seconds=n)
    properties = {"depth": depth, "path": path, "viewport": {"width": width, "height": 800}}
    return {"message_id": f"s{n}", "type": "track", "name": heatmaps.SCROLL_EVENT,
            "anonymous_index": bytes([who]) * 32, "occurred_at": at, "received_at": at,
            "source": "web", "properties": properties, "context": {}}  # fmt: skip


def test_scroll_depth_reach(db: Store) -> None:
    rows = [
        _scrolled(0, 0, 30),
        _scrolled(1, 0, 80),  # the same person, deeper: their deepest counts
        _scrolled(2, 1, 100),
        _scrolled(3, 2, 50, width=375),  # a phone
        _scrolled(4, 3, "deep"),  # not a percentage: ignored
        _scrolled(5, 4, 140),  # neither
        _scrolled(6, 5, 10, path="/other"),
    ]
    with db.sessions.begin() as session:
        session.execute(insert(Event), rows)
    with db.sessions() as session:
        desktop = heatmaps.scroll_depth(session, RANGE, "/home", "desktop")
        mobile = heatmaps.scroll_depth(session, RANGE, "/home", "mobile")
        listed = heatmaps.pages(session, RANGE)
    assert desktop.depths == (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    assert (desktop.people, desktop.reached) == (2, [2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1])
    assert (mobile.people, mobile.reached) == (1, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    assert listed == [("/home", 0), ("/other", 0)]  # scrolled pages are listed, unclicked

"""Click heatmaps from the snippet's ``Element Clicked`` events (``t.js``: ``x``, ``y`` as
shares of the page's width and height, ``viewport``, ``path``, ``element``).

Definitions:

* **viewport class**: ``mobile`` under 768 px wide, ``tablet`` under 1,024, else ``desktop``
  (a page lays out differently in each, so their clicks are not mixed);
* **density**: clicks per cell of a ``GRID`` × ``GRID`` grid over the page; a cell clicked
  by fewer people than the minimum group size is shown empty (it could single someone out);
* **rage click**: three clicks or more by one person within one second, each within 3 % of
  the page's size of the first — frustration at something that does not respond;
* **dead click**: a click on something that is not a link (``element`` not ``a``) after which
  the same person has no other event for two seconds — nothing visibly happened.

* **scroll depth**: the snippet's ``Page Scrolled`` events carry the furthest part of the
  page a visitor saw (``depth``, % of its height); per person, the deepest of the range; the
  *reach* at ``d`` % is how many people saw at least ``d`` % of the page (``SCROLL_STEPS``).

The rows are read with one query (filtered in the database on event name, range, source and
path); binning and the per-person sequences are done here, identically on both backends.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from clientvault.analytics.kpis import Filters, among
from clientvault.errors import InvalidInput
from clientvault.ingest.models import Event

CLICK_EVENT = "Element Clicked"
SCROLL_EVENT = "Page Scrolled"
SCROLL_STEPS: tuple[int, ...] = tuple(range(0, 101, 10))
GRID = 40
VIEWPORTS = ("mobile", "tablet", "desktop")
RAGE_CLICKS = 3
RAGE_WINDOW = timedelta(seconds=1)
RAGE_RADIUS = 0.03
DEAD_WINDOW = timedelta(seconds=2)


def viewport_class(width: Any) -> str:
    """``mobile``, ``tablet`` or ``desktop`` from a viewport width in CSS pixels."""
    try:
        pixels = float(width)
    except (TypeError, ValueError):
        return "desktop"
    return "mobile" if pixels < 768 else "tablet" if pixels < 1024 else "desktop"


@dataclass
class Heatmap:
    """A page's click density, rage and dead clicks."""

    path: str
    viewport: str
    clicks: int
    people: int
    density: list[list[int]]
    rage_clicks: int
    dead_clicks: int
    elements: list[dict[str, Any]]


def pages(session: Session, filters: Filters, limit: int = 50) -> list[tuple[str, int]]:
    """The page paths of the range that were clicked or scrolled, most clicked first, with
    their click counts."""
    path = Event.properties["path"].as_string()
    clicks = func.count(case((Event.name == CLICK_EVENT, 1)))
    query = (
        select(path, clicks)
        .where(Event.name.in_([CLICK_EVENT, SCROLL_EVENT]), Event.occurred_at >= filters.start)
        .where(Event.occurred_at < filters.end)
        .group_by(path)
        .order_by(clicks.desc(), path)
        .limit(limit)
    )
    if filters.source is not None:
        query = query.where(Event.source == filters.source)
    return [(str(p), int(n)) for p, n in session.execute(query) if p is not None]


def _person(customer_id: Any, anonymous: Any) -> Any:
    return customer_id if customer_id is not None else anonymous


def compute(
    session: Session, filters: Filters, path: str, viewport: str, min_group: int
) -> Heatmap:
    """The heatmap of one page in one viewport class over the range."""
    if viewport not in VIEWPORTS:
        raise InvalidInput(f"viewport is one of {', '.join(VIEWPORTS)}")
    if not path.startswith("/") or len(path) > 500:
        raise InvalidInput("a page path starts with / (at most 500 characters)")
    query = (
        select(Event.customer_id, Event.anonymous_index, Event.occurred_at, Event.properties)
        .where(Event.name == CLICK_EVENT, Event.occurred_at >= filters.start)
        .where(Event.occurred_at < filters.end, Event.properties["path"].as_string() == path)
        .order_by(Event.occurred_at, Event.id)
    )
    if filters.source is not None:
        query = query.where(Event.source == filters.source)
    if filters.customer_ids is not None:
        query = query.where(among(Event.customer_id, filters.customer_ids))
    clicks: dict[Any, list[tuple[datetime, float, float, str]]] = defaultdict(list)
    for customer_id, anonymous, at, properties in session.execute(query):
        properties = properties or {}
        if viewport_class((properties.get("viewport") or {}).get("width")) != viewport:
            continue
        try:
            x, y = float(properties["x"]), float(properties["y"])
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= x <= 1 and 0 <= y <= 1:
            element = str(properties.get("element") or "(page)")[:100]
            clicks[_person(customer_id, anonymous)].append((at, x, y, element))
    cell_people: dict[tuple[int, int], set[Any]] = defaultdict(set)
    cell_clicks: dict[tuple[int, int], int] = defaultdict(int)
    element_people: dict[str, set[Any]] = defaultdict(set)
    element_clicks: dict[str, int] = defaultdict(int)
    for person, rows in clicks.items():
        for _, x, y, element in rows:
            cell = (min(int(y * GRID), GRID - 1), min(int(x * GRID), GRID - 1))
            cell_people[cell].add(person)
            cell_clicks[cell] += 1
            element_people[element].add(person)
            element_clicks[element] += 1
    density = [[0] * GRID for _ in range(GRID)]
    for (row, col), count in cell_clicks.items():
        if len(cell_people[(row, col)]) >= min_group:
            density[row][col] = count
    elements = [
        {"element": e, "clicks": element_clicks[e], "people": len(people)}
        for e, people in sorted(element_people.items(), key=lambda item: -element_clicks[item[0]])
        if len(people) >= min_group
    ][:20]
    return Heatmap(
        path,
        viewport,
        sum(cell_clicks.values()),
        len(clicks),
        density,
        sum(_rage(rows) for rows in clicks.values()),
        _dead(session, filters, clicks),
        elements,
    )


@dataclass
class ScrollDepth:
    """How far down one page people scrolled, in one viewport class."""

    path: str
    viewport: str
    people: int
    depths: tuple[int, ...]
    reached: list[int]


def scroll_depth(session: Session, filters: Filters, path: str, viewport: str) -> ScrollDepth:
    """The reach curve of a page: for each depth of ``SCROLL_STEPS``, the people whose deepest
    scroll of the range reached it (suppression of small groups is the caller's)."""
    query = select(Event.customer_id, Event.anonymous_index, Event.properties).where(
        Event.name == SCROLL_EVENT,
        Event.occurred_at >= filters.start,
        Event.occurred_at < filters.end,
        Event.properties["path"].as_string() == path,
    )
    if filters.source is not None:
        query = query.where(Event.source == filters.source)
    if filters.customer_ids is not None:
        query = query.where(among(Event.customer_id, filters.customer_ids))
    deepest: dict[Any, float] = {}
    for customer_id, anonymous, properties in session.execute(query):
        properties = properties or {}
        if viewport_class((properties.get("viewport") or {}).get("width")) != viewport:
            continue
        depth = _depth(properties.get("depth"))
        person = _person(customer_id, anonymous)
        if depth is not None and person is not None:
            deepest[person] = max(depth, deepest.get(person, 0.0))
    reached = [sum(1 for d in deepest.values() if d >= step) for step in SCROLL_STEPS]
    return ScrollDepth(path, viewport, len(deepest), SCROLL_STEPS, reached)


def _depth(value: Any) -> float | None:
    """A reported depth as a percentage from 0 to 100, or ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        depth = float(value)
    except (TypeError, ValueError):
        return None
    return depth if 0 <= depth <= 100 else None


def _rage(rows: list[tuple[datetime, float, float, str]]) -> int:
    """Rage-click bursts in one person's clicks (each burst counted once)."""
    bursts, i = 0, 0
    while i < len(rows):
        at, x, y, _ = rows[i]
        j = i + 1
        while (
            j < len(rows)
            and rows[j][0] - at <= RAGE_WINDOW
            and abs(rows[j][1] - x) <= RAGE_RADIUS
            and abs(rows[j][2] - y) <= RAGE_RADIUS
        ):
            j += 1
        if j - i >= RAGE_CLICKS:
            bursts += 1
            i = j
        else:
            i += 1
    return bursts


def _dead(
    session: Session,
    filters: Filters,
    clicks: dict[Any, list[tuple[datetime, float, float, str]]],
) -> int:
    """Clicks on non-links after which the person did nothing else for ``DEAD_WINDOW``."""
    customers = [p for p in clicks if not isinstance(p, bytes)]
    anonymous = [p for p in clicks if isinstance(p, bytes)]
    following: dict[Any, list[datetime]] = defaultdict(list)
    for column, people in ((Event.customer_id, customers), (Event.anonymous_index, anonymous)):
        for start in range(0, len(people), 500):
            chunk = people[start : start + 500]
            for customer_id, anon, at in session.execute(
                select(Event.customer_id, Event.anonymous_index, Event.occurred_at).where(
                    column.in_(chunk),
                    Event.occurred_at >= filters.start,
                    Event.occurred_at < filters.end + DEAD_WINDOW,
                    Event.name != CLICK_EVENT,
                )
            ):
                following[_person(customer_id, anon)].append(at)
    dead = 0
    for person, rows in clicks.items():
        others = following.get(person, [])
        for at, _, _, element in rows:
            if element == "a":
                continue
            dead += not any(at < t <= at + DEAD_WINDOW for t in others)
    return dead

"""Funnels cross-checked against a plain-Python reading of their definitions
(``analytics.funnels``' docstring) on a random history, every mode, with exclusions, both
attributions of a breakdown, two windows, a source and a customer filter, on SQLite and
PostgreSQL: the SQL is rewritten for speed, the meaning must not move.

The history has ties (several events at one instant), anonymous visitors, events before the
range and after it, page calls among the track calls, and events without the breakdown
property, so each clause of the definitions is exercised."""

from __future__ import annotations

import random
import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from clientvault.analytics import funnels, kpis
from clientvault.identity.models import Customer
from clientvault.ingest.models import Event
from clientvault.store.context import Store

START = datetime(2026, 3, 1, tzinfo=UTC)
RANGE = kpis.Filters(START + timedelta(days=1), START + timedelta(days=4))
NAMES = ("A", "B", "C", "D", "X", "Other")
CUSTOMERS = [uuid.UUID(int=n + 1) for n in range(40)]
ANONYMOUS = [bytes([n]) * 32 for n in range(1, 9)]


@dataclass(frozen=True)
class Row:
    """One event as the reference reads it."""

    id: int
    person: object
    customer: uuid.UUID | None
    name: str
    type: str
    at: datetime
    source: str
    device: str | None


def _history(seed: int) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for n in range(900):
        person: Any = rng.choice(CUSTOMERS + ANONYMOUS)
        # Minutes over five days, so that instants repeat (ties); a few with microseconds.
        at = START + timedelta(minutes=rng.randrange(5 * 24 * 60 // 7) * 7)
        if rng.random() < 0.2:
            at += timedelta(microseconds=rng.randrange(1, 1_000_000))
        page = rng.random() < 0.1
        rows.append(
            Row(
                id=n + 1,
                person=person,
                customer=person if isinstance(person, uuid.UUID) else None,
                name="Home" if page else rng.choice(NAMES),
                type="page" if page else "track",
                at=at,
                source=rng.choice(("web", "web", "app")),
                device=rng.choice(("desktop", "mobile", "tablet", None)),
            )
        )
    return rows


def _load(store: Store, rows: list[Row]) -> None:
    with store.sessions.begin() as session:
        session.execute(insert(Customer), [{"id": c} for c in CUSTOMERS])
        session.execute(
            insert(Event),
            [
                {
                    "message_id": f"r{row.id}",
                    "type": row.type,
                    "name": row.name,
                    "customer_id": row.customer,
                    "anonymous_index": None if row.customer else row.person,
                    "occurred_at": row.at,
                    "received_at": row.at,
                    "source": row.source,
                    "properties": {},
                    "context": {} if row.device is None else {"device": {"type": row.device}},
                }
                for row in rows
            ],
        )


def _attempt(
    spec: funnels.FunnelSpec, mine: list[Row], i: int
) -> tuple[int, float | None, str | None]:
    """From ``mine[i]`` (a start): steps reached, seconds to the last step when all are
    reached, and the breakdown value by the spec's attribution."""
    start = mine[i]
    limit = start.at + spec.window
    value = (lambda row: row.device or "(none)") if spec.breakdown else (lambda row: None)
    if spec.mode == "strict":  # the person's very next track events
        reached = [start]
        for k, step in enumerate(spec.steps[1:], 1):
            if i + k >= len(mine) or mine[i + k].name != step or mine[i + k].at > limit:
                break
            reached.append(mine[i + k])
        last_touch = value(reached[-1])
    else:
        later = [r for r in mine if r.at > start.at]
        stop = min((r.at for r in later if r.name in spec.exclusions), default=None)
        if spec.mode == "ordered":
            reached, after = [start], start.at
            for step in spec.steps[1:]:
                found = min((r.at for r in later if r.name == step and r.at > after), default=None)
                if found is None or not counts_at(found, limit, stop):
                    break
                # The last touch among ties: the least value (what the SQL's MIN keeps).
                at_found = [r for r in later if r.name == step and r.at == found]
                reached.append(min(at_found, key=lambda r: value(r) or ""))
                after = found
            last_touch = value(reached[-1])
        else:  # unordered: each other step's next occurrence after the start
            reached = [start]
            for step in spec.steps:
                if step == start.name:
                    continue
                found = min((r.at for r in later if r.name == step), default=None)
                if found is not None and counts_at(found, limit, stop):
                    ties = [r for r in later if r.name == step and r.at == found]
                    reached.append(min(ties, key=lambda r: value(r) or ""))
            latest = max(r.at for r in reached)
            last_touch = max((value(r) or "") for r in reached if r.at == latest) or None
            reached.sort(key=lambda r: r.at)
    n = len(reached)
    seconds = (reached[-1].at - start.at).total_seconds() if n == len(spec.steps) else None
    touch = value(start) if spec.attribution == "first" else last_touch
    return n, seconds, touch


def counts_at(at: datetime, limit: datetime, stop: datetime | None) -> bool:
    """Within the window and before the attempt's first exclusion."""
    return at <= limit and (stop is None or at < stop)


def reference(
    rows: list[Row], spec: funnels.FunnelSpec, filters: kpis.Filters
) -> tuple[list[int], dict[str, list[int]], list[float]]:
    """Step counts, breakdown and times to convert, straight from the definitions."""
    by_person: dict[object, list[Row]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.at, r.id)):
        if not filters.start <= row.at < filters.end + spec.window:
            continue
        if filters.source is not None and row.source != filters.source:
            continue
        if filters.customer_ids is not None and row.customer not in filters.customer_ids:
            continue
        if spec.mode == "strict" and row.type != "track":
            continue
        if spec.mode != "strict" and row.name not in (*spec.steps, *spec.exclusions):
            continue
        by_person[row.person].append(row)
    n = len(spec.steps)
    totals = [0] * n
    breakdown: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    durations = []
    for mine in by_person.values():
        best: tuple[int, float | None, str | None] | None = None
        for i, row in enumerate(mine):
            first = spec.steps if spec.mode == "unordered" else spec.steps[:1]
            if row.name not in first or not filters.start <= row.at < filters.end:
                continue
            attempt = _attempt(spec, mine, i)
            if best is None or attempt[0] > best[0]:
                best = attempt
        if best is None:
            continue
        for k in range(best[0]):
            totals[k] += 1
            if spec.breakdown is not None:
                breakdown[str(best[2])][k] += 1
        if best[1] is not None:
            durations.append(best[1])
    return totals, dict(breakdown), sorted(durations)


#: Multiples of the history's 7-minute grid (attempts end exactly on a step), and one with a
#: fraction of a second (the window's end computed from microseconds on SQLite).
WINDOWS = (
    timedelta(minutes=7 * 25),
    timedelta(minutes=7 * 25, microseconds=500_000),
    timedelta(minutes=7 * 412),
)
BREAKDOWNS = ((None, "first"), ("context.device.type", "first"), ("context.device.type", "last"))
SPECS = [
    dict(mode=mode, exclusions=exclusions, breakdown=breakdown, attribution=attribution)
    for mode in funnels.MODES
    for exclusions in ((), ("X",))
    for breakdown, attribution in BREAKDOWNS
    if not (mode == "strict" and exclusions)
]


@pytest.mark.parametrize("seed", [1, 2])
def test_funnels_match_the_reference(db: Store, seed: int) -> None:
    rows = _history(seed)
    _load(db, rows)
    some = CUSTOMERS[::3]
    checked = 0
    with db.sessions() as session:
        for options in SPECS:
            for window in WINDOWS:
                for filters in (
                    RANGE,
                    kpis.Filters(RANGE.start, RANGE.end, source="web"),
                    kpis.Filters(RANGE.start, RANGE.end, customer_ids=some),
                ):
                    spec = funnels.FunnelSpec(steps=("A", "B", "C", "D"), window=window, **options)
                    result = funnels.compute(session, spec, filters)
                    totals, breakdown, durations = reference(rows, spec, filters)
                    label = (options, window, filters.source, filters.customer_ids is not None)
                    assert [s.people for s in result.steps] == totals, label
                    assert result.breakdown == breakdown, label
                    assert result.seconds_to_convert == pytest.approx(durations), label
                    if durations:
                        assert result.median_seconds == pytest.approx(statistics.median(durations))
                    checked += totals[-1] > 0
    assert checked > 10  # the history converts people, or the comparison says little

"""Funnels: how many people go through a sequence of steps within a conversion window.

Definitions (per person: a customer, or an anonymous id for events linked to no customer):

* an attempt starts at any occurrence of the first step inside the date range and may end up
  to ``window`` later; a person counts once, with their best attempt (furthest step, then the
  earliest);
* **ordered**: each step happens after the previous one (other events may come between);
* **strict**: each step is the person's very next event after the previous step;
* **unordered**: the steps may happen in any order within the window (step ``k`` is reached
  when ``k`` distinct steps have happened);
* **exclusions**: an exclusion event ends an attempt: steps after it do not count ("…without
  Support Ticket Opened in between");
* **drop-off**: people reaching a step but not the next; **time to convert**: from the first
  step to the last, for those who reach it (distribution and median);
* **breakdown**: a property's value (``properties.device`` or ``context.device.type``) on the
  first step (first touch) or on the last reached step (last touch).

The events are read from the database in one ordered query and walked once per person: the
walk is a small state machine (what PostHog and Mixpanel compute with window functions);
kept in Python so one definition serves SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.analytics.kpis import Filters
from clientvault.errors import InvalidInput
from clientvault.ingest.models import Event

Mode = Literal["ordered", "strict", "unordered"]
MODES: tuple[str, ...] = ("ordered", "strict", "unordered")
DEFAULT_STEPS: tuple[str, ...] = (
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
)
MAX_STEPS = 10


@dataclass(frozen=True)
class FunnelSpec:
    """What to count: steps, conversion window, mode, exclusions and breakdown."""

    steps: tuple[str, ...] = DEFAULT_STEPS
    window: timedelta = timedelta(days=7)
    mode: str = "ordered"
    exclusions: tuple[str, ...] = ()
    breakdown: str | None = None
    attribution: str = "first"

    def __post_init__(self) -> None:
        if not 2 <= len(self.steps) <= MAX_STEPS:
            raise InvalidInput(f"a funnel has 2 to {MAX_STEPS} steps")
        if any(not step or len(step) > 200 for step in self.steps):
            raise InvalidInput("each step is an event name of 1 to 200 characters")
        if self.mode not in MODES:
            raise InvalidInput(f"unknown funnel mode {self.mode!r}: use {', '.join(MODES)}")
        if not timedelta(minutes=1) <= self.window <= timedelta(days=365):
            raise InvalidInput("the conversion window is between one minute and 365 days")
        if set(self.exclusions) & set(self.steps):
            raise InvalidInput("an exclusion cannot also be a step")
        if self.attribution not in ("first", "last"):
            raise InvalidInput("attribution is first or last")
        if self.breakdown is not None and not self.breakdown.startswith(
            ("properties.", "context.")
        ):
            raise InvalidInput("break down by properties.NAME or context.PATH")


@dataclass
class StepCount:
    """One step of the funnel: how many people reached it."""

    name: str
    people: int
    conversion_from_start: float | None
    conversion_from_previous: float | None
    drop_off: int


@dataclass
class FunnelResult:
    """Counts per step, overall and per breakdown value, and the times to convert."""

    steps: list[StepCount]
    seconds_to_convert: list[float]
    median_seconds: float | None
    breakdown: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Row:
    name: str
    at: datetime
    properties: dict[str, Any]
    context: dict[str, Any]


def _path(row: _Row, dotted: str) -> str:
    where, _, rest = dotted.partition(".")
    value: Any = row.properties if where == "properties" else row.context
    for part in rest.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "(none)" if value is None else str(value)[:100]


def _rows(session: Session, spec: FunnelSpec, filters: Filters) -> Iterator[tuple[Any, _Row]]:
    """Each person's events of interest, in time order, from one query (the JSON columns
    only when a breakdown reads them: decoding them is most of the cost otherwise)."""
    end = filters.end + spec.window
    documents = spec.breakdown is not None
    columns: list[Any] = [Event.customer_id, Event.anonymous_index, Event.name, Event.occurred_at]
    if documents:
        columns += [Event.properties, Event.context]
    query = select(*columns).where(
        Event.occurred_at >= filters.start, Event.occurred_at < end, Event.type == "track"
    )
    if spec.mode != "strict":  # strict needs every event, to see what comes between
        query = query.where(Event.name.in_([*spec.steps, *spec.exclusions]))
    if filters.source is not None:
        query = query.where(Event.source == filters.source)
    if filters.customer_ids is not None:
        query = query.where(Event.customer_id.in_(list(filters.customer_ids)))
    for row in session.execute(query.order_by(Event.occurred_at, Event.id)):
        person = row[0] if row[0] is not None else row[1]
        if person is not None:
            properties, context = (row[4] or {}, row[5] or {}) if documents else ({}, {})
            yield person, _Row(row[2] or "", row[3], properties, context)


@dataclass(frozen=True)
class _Attempt:
    reached: int
    times: tuple[datetime, ...]
    first: _Row
    last: _Row


def _attempt(events: list[_Row], start: int, spec: FunnelSpec) -> _Attempt:
    """How far the attempt starting at ``events[start]`` (a first step) gets."""
    steps, first = spec.steps, events[start]
    deadline = first.at + spec.window
    times, last, reached = [first.at], first, 1
    seen = {first.name}
    for row in events[start + 1 :]:
        if row.at > deadline or reached == len(steps):
            break
        if row.name in spec.exclusions:
            break  # an exclusion ends the attempt: what was reached before it stands
        if spec.mode == "unordered":
            if row.name in steps and row.name not in seen:
                seen.add(row.name)
                times.append(row.at)
                last, reached = row, reached + 1
        elif row.name == steps[reached]:
            times.append(row.at)
            last, reached = row, reached + 1
        elif spec.mode == "strict":
            break
    return _Attempt(reached, tuple(times), first, last)


def _best(events: list[_Row], spec: FunnelSpec, filters: Filters) -> _Attempt | None:
    starts = (
        {*spec.steps} if spec.mode == "unordered" else {spec.steps[0]}
    )  # unordered: any step may open the window
    best: _Attempt | None = None
    for index, row in enumerate(events):
        if row.name in starts and filters.start <= row.at < filters.end:
            attempt = _attempt(events, index, spec)
            if best is None or attempt.reached > best.reached:
                best = attempt
            if best.reached == len(spec.steps):
                break
    return best


def compute(session: Session, spec: FunnelSpec, filters: Filters) -> FunnelResult:
    """The funnel over ``filters``' range: step counts, drop-offs, times to convert and the
    breakdown (suppression of small groups is the caller's, per viewer)."""
    per_person: dict[Any, list[_Row]] = defaultdict(list)
    for person, row in _rows(session, spec, filters):
        per_person[person].append(row)
    n = len(spec.steps)
    reached = [0] * n
    durations: list[float] = []
    breakdown: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for events in per_person.values():
        best = _best(events, spec, filters)
        if best is None:
            continue
        for k in range(best.reached):
            reached[k] += 1
        if best.reached == n:
            durations.append((best.times[-1] - best.times[0]).total_seconds())
        if spec.breakdown is not None:
            touch = best.first if spec.attribution == "first" else best.last
            counts = breakdown[_path(touch, spec.breakdown)]
            for k in range(best.reached):
                counts[k] += 1
    steps = []
    for k, name in enumerate(spec.steps):
        steps.append(
            StepCount(
                name,
                reached[k],
                reached[k] / reached[0] if reached[0] else None,
                (reached[k] / reached[k - 1] if reached[k - 1] else None) if k else None,
                reached[k] - reached[k + 1] if k + 1 < n else 0,
            )
        )
    durations.sort()
    return FunnelResult(
        steps, durations, statistics.median(durations) if durations else None, dict(breakdown)
    )


def person_key(customer_id: uuid.UUID | None, anonymous: bytes | None) -> object:
    """How funnels and KPIs tell people apart (exposed for tests and experiments)."""
    return customer_id if customer_id is not None else anonymous


def parse_steps(text: str | Sequence[str]) -> tuple[str, ...]:
    """Steps from a comma-separated string (URL, CLI) or a list (JSON)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(item.strip() for item in items if item.strip())

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

Everything is computed in the database, in one statement of window functions over each
person's events in time order (``ORDER BY occurred_at, id``), the same SQL on SQLite and
PostgreSQL (instants compared as integer microseconds since the epoch):

* *ordered*: the earliest next occurrence of each step after the previous one, found for every
  attempt at once by a cascade of "minimum over the following rows" windows (the next step-``k``
  occurrence after a row never comes earlier for a later row, so the minimum over the
  following step-``k - 1`` rows of their own chain is the chain of the nearest one);
* *strict*: ``LEAD`` over all of the person's events; *unordered*: the next occurrence of each
  step after the attempt's start;
* the best attempt per person is picked by ``ROW_NUMBER``, and only counts per (steps reached,
  breakdown value, time to convert) come back.

An exclusion at the very instant of a step ends the attempt before that step.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    String,
    Subquery,
    Text,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

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


def epoch_micros(moment: Any, dialect: str) -> ColumnElement[int]:
    """An instant as integer microseconds since the epoch, exactly, on either backend (SQLite
    stores ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC): what durations and windows compare."""
    if dialect == "sqlite":
        seconds = cast(func.strftime("%s", moment), BigInteger) * 1_000_000
        return seconds + cast(func.substr(moment, 21, 6), BigInteger)
    return cast(extract("epoch", moment) * 1_000_000, BigInteger)


def _sortable(micros: Any, value: Any, dialect: str) -> ColumnElement[str]:
    """``micros`` zero-padded then ``value``: a text whose order is the instant's, so a
    window's ``MIN`` carries the breakdown value of the earliest row along with its time."""
    padded = (
        func.printf("%020d", micros)
        if dialect == "sqlite"
        else func.lpad(cast(micros, Text), 20, "0")
    )
    return padded + value  # type: ignore[no-any-return]


def _micros_of(key: Any, keyed: bool) -> Any:
    return cast(func.substr(key, 1, 20), BigInteger) if keyed else key


def _value_of(key: Any) -> Any:
    return func.substr(key, 21)


def _person(events: Any) -> list[Any]:
    return [events.c.cid, events.c.anon]


def _events(spec: FunnelSpec, filters: Filters, dialect: str) -> Subquery:
    """The person's events of interest in ``[start, end + window)``: every event for strict
    funnels (to see what comes between), else the steps and exclusions only."""
    anonymous = case((Event.customer_id.is_(None), Event.anonymous_index), else_=None)
    columns: list[Any] = [
        Event.customer_id.label("cid"),
        anonymous.label("anon"),
        Event.name.label("name"),
        Event.occurred_at.label("at"),
        Event.id.label("id"),
        epoch_micros(Event.occurred_at, dialect).label("e"),
    ]
    if spec.breakdown is not None:
        where, _, rest = spec.breakdown.partition(".")
        document: Any = Event.properties if where == "properties" else Event.context
        value = document[tuple(rest.split("."))].as_string()
        columns.append(func.substr(func.coalesce(value, "(none)"), 1, 100).label("bv"))
    query = select(*columns).where(
        Event.occurred_at >= filters.start,
        Event.occurred_at < filters.end + spec.window,
        Event.type == "track",
        or_(Event.customer_id.is_not(None), Event.anonymous_index.is_not(None)),
    )
    if spec.mode != "strict":
        query = query.where(Event.name.in_([*spec.steps, *spec.exclusions]))
    if filters.source is not None:
        query = query.where(Event.source == filters.source)
    if filters.customer_ids is not None:
        query = query.where(Event.customer_id.in_(list(filters.customer_ids)))
    return query.subquery("funnel_events")


def _following_min(events: Any, value: Any) -> Any:
    """The minimum of ``value`` over the person's rows after this one (a frame growing from
    the end, which both databases maintain incrementally)."""
    return func.min(value).over(
        partition_by=_person(events),
        order_by=[events.c.at.desc(), events.c.id.desc()],
        rows=(None, -1),
    )


def _in_window(micros: Any, start: Any, spec: FunnelSpec) -> Any:
    return micros <= start + int(spec.window.total_seconds() * 1_000_000)


def _ordered(spec: FunnelSpec, events: Subquery, dialect: str) -> tuple[Subquery, Any, list[Any]]:
    """Attempts of an ordered funnel: per start row, each later step's key (instant, and the
    breakdown value when last touch), by the cascade of following-row minimums."""
    keyed = spec.breakdown is not None and spec.attribution == "last"
    n = len(spec.steps)
    own = _sortable(events.c.e, events.c.bv, dialect) if keyed else events.c.e
    base = [*events.c]
    exclusion = (
        _following_min(events, case((events.c.name.in_(spec.exclusions), events.c.e)))
        if spec.exclusions
        else literal(None, BigInteger)
    )
    current: Any = select(*base, own.label("own"), exclusion.label("x")).subquery("level")
    for k in range(n - 1, 0, -1):
        is_step = current.c.name == spec.steps[k]
        chain = [_following_min(current, case((is_step, current.c.own))).label(f"p{k}_{k}")]
        chain += [
            _following_min(current, case((is_step, current.c[f"p{k + 1}_{j}"]))).label(f"p{k}_{j}")
            for j in range(k + 1, n)
        ]
        keep = [current.c[name] for name in (*events.c.keys(), "own", "x")]
        current = select(*keep, *chain).subquery(f"level{k}")
    keys = [current.c.own, *(current.c[f"p1_{j}"] for j in range(1, n))]
    ok = [
        and_(
            _in_window(_micros_of(key, keyed), current.c.e, spec),
            or_(current.c.x.is_(None), _micros_of(key, keyed) < current.c.x),
        )
        for key in keys[1:]
    ]
    return current, keyed, [keys, ok]


def compute(session: Session, spec: FunnelSpec, filters: Filters) -> FunnelResult:
    """The funnel over ``filters``' range: step counts, drop-offs, times to convert and the
    breakdown (suppression of small groups is the caller's, per viewer)."""
    dialect = session.get_bind().dialect.name
    n = len(spec.steps)
    events = _events(spec, filters, dialect)
    attempts, reached, last_micros, first_touch, last_touch = _attempts(spec, events, dialect)
    in_range = and_(attempts.c.at >= filters.start, attempts.c.at < filters.end)
    touch = first_touch if spec.attribution == "first" else last_touch
    ranked = (
        select(
            reached.label("reached"),
            case((reached == n, last_micros - attempts.c.e)).label("micros"),
            (touch if spec.breakdown is not None else literal(None, String)).label("touch"),
            func.row_number()
            .over(
                partition_by=_person(attempts),
                order_by=[reached.desc(), attempts.c.at, attempts.c.id],
            )
            .label("rank"),
        )
        .where(in_range, _starts(spec, attempts))
        .subquery("ranked")
    )
    counts = select(ranked.c.reached, ranked.c.touch, ranked.c.micros, func.count()).where(
        ranked.c.rank == 1
    )
    counts = counts.group_by(ranked.c.reached, ranked.c.touch, ranked.c.micros)
    totals = [0] * n
    durations: list[float] = []
    breakdown: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for depth, value, micros, count in session.execute(counts):
        for k in range(int(depth)):
            totals[k] += int(count)
            if spec.breakdown is not None:
                breakdown[str(value)][k] += int(count)
        if micros is not None:
            durations += [int(micros) / 1_000_000] * int(count)
    steps = []
    for k, name in enumerate(spec.steps):
        steps.append(
            StepCount(
                name,
                totals[k],
                totals[k] / totals[0] if totals[0] else None,
                (totals[k] / totals[k - 1] if totals[k - 1] else None) if k else None,
                totals[k] - totals[k + 1] if k + 1 < n else 0,
            )
        )
    durations.sort()
    return FunnelResult(
        steps, durations, statistics.median(durations) if durations else None, dict(breakdown)
    )


def _starts(spec: FunnelSpec, attempts: Any) -> Any:
    """Which rows open an attempt: the first step (any step for unordered funnels)."""
    if spec.mode == "unordered":
        return attempts.c.name.in_(spec.steps)
    return attempts.c.name == spec.steps[0]


def _attempts(
    spec: FunnelSpec, events: Subquery, dialect: str
) -> tuple[Subquery, Any, Any, Any, Any]:
    """Per start row: the steps reached, the instant of the last step, the first-touch and
    last-touch breakdown values (as SQL over the returned subquery)."""
    if spec.mode == "strict":
        return _strict(spec, events)
    if spec.mode == "unordered":
        return _unordered(spec, events, dialect)
    attempts, keyed, (keys, ok) = _ordered(spec, events, dialect)
    reached = 1 + sum((case((condition, 1), else_=0) for condition in ok), literal(0))
    last_key = case(
        *((reached == k + 1, keys[k]) for k in range(len(keys) - 1, 0, -1)), else_=keys[0]
    )
    first = attempts.c.bv if spec.breakdown is not None else None
    last = _value_of(last_key) if keyed else first
    return attempts, reached, _micros_of(keys[-1], keyed), first, last


def _strict(spec: FunnelSpec, events: Subquery) -> tuple[Subquery, Any, Any, Any, Any]:
    """Strict funnels: step ``k`` is the person's ``k``-th next event (``LEAD``)."""
    n = len(spec.steps)
    order = [events.c.at, events.c.id]
    leads: list[Any] = []
    for k in range(1, n):
        window = {"partition_by": _person(events), "order_by": order}
        leads += [
            func.lead(events.c.name, k).over(**window).label(f"name{k}"),
            func.lead(events.c.e, k).over(**window).label(f"e{k}"),
        ]
        if spec.breakdown is not None:
            leads.append(func.lead(events.c.bv, k).over(**window).label(f"bv{k}"))
    attempts = select(*events.c, *leads).subquery("strict")
    ok, chain = [], []
    for k in range(1, n):
        chain.append(attempts.c[f"name{k}"] == spec.steps[k])
        ok.append(and_(*chain, _in_window(attempts.c[f"e{k}"], attempts.c.e, spec)))
    reached = 1 + sum((case((condition, 1), else_=0) for condition in ok), literal(0))
    first = attempts.c.bv if spec.breakdown is not None else None
    last = first
    if spec.breakdown is not None:
        last = case(
            *((reached == k + 1, attempts.c[f"bv{k}"]) for k in range(n - 1, 0, -1)),
            else_=attempts.c.bv,
        )
    return attempts, reached, attempts.c[f"e{n - 1}"], first, last


def _unordered(
    spec: FunnelSpec, events: Subquery, dialect: str
) -> tuple[Subquery, Any, Any, Any, Any]:
    """Unordered funnels: from a start on any step, each other step's next occurrence."""
    keyed = spec.breakdown is not None and spec.attribution == "last"
    own = _sortable(events.c.e, events.c.bv, dialect) if keyed else events.c.e
    nexts = [
        _following_min(events, case((events.c.name == step, own))).label(f"n{k}")
        for k, step in enumerate(spec.steps)
    ]
    exclusion = (
        _following_min(events, case((events.c.name.in_(spec.exclusions), events.c.e)))
        if spec.exclusions
        else literal(None, BigInteger)
    )
    attempts = select(*events.c, own.label("own"), exclusion.label("x"), *nexts).subquery(
        "unordered"
    )
    seen = []
    for k, step in enumerate(spec.steps):
        key = attempts.c[f"n{k}"]
        micros = _micros_of(key, keyed)
        seen.append(
            (
                and_(
                    attempts.c.name != step,
                    _in_window(micros, attempts.c.e, spec),
                    or_(attempts.c.x.is_(None), micros < attempts.c.x),
                ),
                key,
            )
        )
    reached = 1 + sum((case((condition, 1), else_=0) for condition, _ in seen), literal(0))
    latest = func.max if dialect == "sqlite" else func.greatest
    last_key = latest(
        attempts.c.own, *(func.coalesce(case((c, key)), attempts.c.own) for c, key in seen)
    )
    first = attempts.c.bv if spec.breakdown is not None else None
    last = _value_of(last_key) if keyed else first
    return attempts, reached, _micros_of(last_key, keyed), first, last


def person_key(customer_id: uuid.UUID | None, anonymous: bytes | None) -> object:
    """How funnels and KPIs tell people apart (exposed for tests and experiments)."""
    return customer_id if customer_id is not None else anonymous


def parse_steps(text: str | Sequence[str]) -> tuple[str, ...]:
    """Steps from a comma-separated string (URL, CLI) or a list (JSON)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(item.strip() for item in items if item.strip())

"""Funnels: how many people go through a sequence of steps within a conversion window.

Definitions (per person: a customer, or an anonymous id for events linked to no customer;
steps and exclusions are event names):

* an attempt starts at any occurrence of the first step inside the date range and may end up
  to ``window`` later; a person counts once, with their best attempt (furthest step, then the
  earliest);
* **ordered**: each step happens at a later instant than the previous one (other events may
  come between);
* **strict**: each step is the person's very next ``track`` event after the previous step
  (events in ``occurred_at, id`` order; page views in between do not break the chain);
* **unordered**: the steps may happen in any order within the window, at later instants than
  the start (step ``k`` is reached when ``k`` distinct steps have happened);
* **exclusions**: an exclusion event ends an attempt: steps after it do not count ("…without
  Support Ticket Opened in between");
* **drop-off**: people reaching a step but not the next; **time to convert**: from the first
  step to the last, for those who reach it (distribution and median);
* **breakdown**: a property's value (``properties.device`` or ``context.device.type``) on the
  first step (first touch) or on the last reached step (last touch).

Everything is computed in the database, in one statement per funnel, the same SQL on SQLite
and PostgreSQL:

* *ordered*: set-based, as a hand-written funnel query joins: the attempts, then per step the
  attempts still going joined with the person's next occurrences of the step inside the
  window (the earliest kept), in the events' (name, customer, time) index, instants compared
  in the column's own type; without a breakdown, people per step are the distinct people of
  each step's set (no ranking needed: a person reaches a step when any attempt does);
  with a last-touch breakdown, a cascade of "minimum over the later rows" windows instead
  (instants as integer microseconds since the epoch),
  which carries the breakdown value along (the next step-``k`` occurrence after an instant
  never comes earlier for a later instant, so the minimum over the later step-``k − 1`` rows
  of their own chains is the chain of the nearest one);
* *strict*: ``LEAD`` over all of the person's events; *unordered*: the next occurrence of each
  step after the attempt's start (a window minimum);
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
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    Subquery,
    Text,
    and_,
    case,
    cast,
    distinct,
    extract,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from clientvault.analytics.kpis import Filters, among
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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _sortable(micros: Any, value: Any, dialect: str) -> ColumnElement[str]:
    """``micros`` zero-padded then ``value``: a text whose order is the instant's, so a
    window's ``MIN`` carries the breakdown value of the earliest row along with its time."""
    padded = (
        func.printf("%020d", micros)
        if dialect == "sqlite"
        else func.lpad(cast(micros, Text), 20, "0")
    )
    return padded.op("||")(value)


def _micros_of(key: Any, keyed: bool) -> Any:
    return cast(func.substr(key, 1, 20), BigInteger) if keyed else key


def _value_of(key: Any) -> Any:
    return func.substr(key, 21)


def _person(events: Any) -> list[Any]:
    return [events.c.cid, events.c.anon]


def _person_events(spec: FunnelSpec, filters: Filters, until: datetime, *extra: Any) -> Select[Any]:
    """Events of people (customers or anonymous ids) from the range's start to
    ``until``, per ``filters``: person, name, id, breakdown value (``bv``) and the ``extra``
    columns."""
    anonymous = case((Event.customer_id.is_(None), Event.anonymous_index), else_=None)
    columns: list[Any] = [
        Event.customer_id.label("cid"),
        anonymous.label("anon"),
        Event.name.label("name"),
        Event.id.label("id"),
        *extra,
    ]
    if spec.breakdown is not None:
        columns.append(_breakdown_value(spec.breakdown).label("bv"))
    return select(*columns).where(
        *_range(filters, until),
        or_(Event.customer_id.is_not(None), Event.anonymous_index.is_not(None)),
    )


def _range(filters: Filters, until: datetime) -> list[ColumnElement[bool]]:
    """The events from the range's start to ``until``, of the source and customers asked."""
    return [
        Event.occurred_at >= filters.start,
        Event.occurred_at < until,
        *_event_matches(filters, Event.__table__),
    ]


def _events(spec: FunnelSpec, filters: Filters, dialect: str) -> Subquery:
    """The person's events of interest in ``[start, end + window)``: every event for strict
    funnels (to see what comes between), else the steps and exclusions only."""
    instant = epoch_micros(Event.occurred_at, dialect).label("e")
    query = _person_events(spec, filters, filters.end + spec.window, instant)
    if spec.mode == "strict":
        query = query.where(Event.type == "track")
    else:
        query = query.where(Event.name.in_([*spec.steps, *spec.exclusions]))
    return query.subquery("funnel_events")


def _following_min(events: Any, value: Any) -> Any:
    """The minimum of ``value`` over the person's rows at later instants than this one (a
    ``RANGE`` frame over the integer instants, growing from the end, which both databases
    maintain incrementally)."""
    return func.min(value).over(
        partition_by=_person(events), order_by=events.c.e.desc(), range_=(None, -1)
    )


def _in_window(micros: Any, start: Any, spec: FunnelSpec) -> Any:
    return micros <= start + int(spec.window.total_seconds() * 1_000_000)


def _ordered(
    spec: FunnelSpec, events: Subquery, dialect: str
) -> tuple[Subquery, bool, list[Any], list[Any]]:
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
    return current, keyed, keys, ok


def compute(session: Session, spec: FunnelSpec, filters: Filters) -> FunnelResult:
    """The funnel over ``filters``' range: step counts, drop-offs, times to convert and the
    breakdown (suppression of small groups is the caller's, per viewer)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # The lookups' cost estimate crosses PostgreSQL's JIT threshold: compiling the plan
        # takes longer than running it (hundreds of ms against tens). For this transaction.
        session.execute(text("SET LOCAL jit = off"))
    if spec.mode == "ordered" and spec.breakdown is None:
        totals, durations = _ordered_totals(session, spec, filters, dialect)
        return _result(spec, totals, durations, {})
    return _result(spec, *_best_attempts(session, spec, filters, dialect))


def _best_attempts(
    session: Session, spec: FunnelSpec, filters: Filters, dialect: str
) -> tuple[list[int], list[float], dict[str, list[int]]]:
    """People per step, times to convert and breakdown, each person counted with their
    best attempt (furthest step, then the earliest), picked by ``ROW_NUMBER``."""
    n = len(spec.steps)
    scored = _scored(spec, filters, dialect)
    ranked = select(
        scored.c.reached,
        case((scored.c.reached == n, scored.c.span)).label("micros"),
        scored.c.touch,
        func.row_number()
        .over(
            partition_by=_person(scored),
            order_by=[scored.c.reached.desc(), scored.c.start, scored.c.id],
        )
        .label("rank"),
    ).subquery("ranked")
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
    return totals, durations, dict(breakdown)


def _result(
    spec: FunnelSpec, totals: list[int], durations: list[float], breakdown: dict[str, list[int]]
) -> FunnelResult:
    """The funnel's figures from the people per step and the times to convert."""
    n = len(spec.steps)
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
        steps, durations, statistics.median(durations) if durations else None, breakdown
    )


def _count(reached: Sequence[Any]) -> Any:
    """1 (the start) plus the number of later steps whose condition holds, as SQL."""
    return 1 + sum((case((condition, 1), else_=0) for condition in reached), literal(0))


def _breakdown_value(dotted: str) -> Any:
    """The breakdown value of an event (``properties.NAME`` or ``context.PATH``), as text of
    at most 100 characters, ``(none)`` when absent."""
    where, _, rest = dotted.partition(".")
    document: Any = Event.properties if where == "properties" else Event.context
    value = document[tuple(rest.split("."))].as_string()
    return func.substr(func.coalesce(value, "(none)"), 1, 100)


def _starts(spec: FunnelSpec, attempts: Any) -> Any:
    """Which rows open an attempt: the first step (any step for unordered funnels)."""
    if spec.mode == "unordered":
        return attempts.c.name.in_(spec.steps)
    return attempts.c.name == spec.steps[0]


def _scored(spec: FunnelSpec, filters: Filters, dialect: str) -> Subquery:
    """One row per attempt opened in the range: the person (``cid``, ``anon``), when it
    started (``start``, in an order of instants) and its row (``id``), the steps reached, the
    microseconds from the start to the last step when all are reached (``span``, else any
    value) and the breakdown value by the spec's attribution (``touch``)."""
    if spec.mode == "ordered" and spec.attribution == "first":
        return _ordered_scored(spec, _ordered_levels(spec, filters, dialect), dialect)
    events = _events(spec, filters, dialect)
    if spec.mode == "strict":
        attempts, reached, last_micros, first, last = _strict(spec, events)
    elif spec.mode == "unordered":
        attempts, reached, last_micros, first, last = _unordered(spec, events, dialect)
    else:
        attempts, keyed, keys, ok = _ordered(spec, events, dialect)
        reached = _count(ok)
        last_key = case(
            *((reached == k + 1, keys[k]) for k in range(len(keys) - 1, 0, -1)), else_=keys[0]
        )
        first = attempts.c.bv
        last = _value_of(last_key)
        last_micros = _micros_of(keys[-1], keyed)
    touch = first if spec.attribution == "first" else last
    in_range = and_(attempts.c.e >= _micros(filters.start), attempts.c.e < _micros(filters.end))
    return (
        select(
            *_person(attempts),
            attempts.c.e.label("start"),
            attempts.c.id,
            reached.label("reached"),
            (last_micros - attempts.c.e).label("span"),
            (touch if spec.breakdown is not None else literal(None, String)).label("touch"),
        )
        .where(in_range, _starts(spec, attempts))
        .subquery("scored")
    )


def _window_end(start: Any, spec: FunnelSpec, dialect: str) -> Any:
    """The last instant of the conversion window opened at ``start``, in the column's own
    type (so that comparing it with ``occurred_at`` can use the events' index): on SQLite,
    text of the stored form (``YYYY-MM-DD HH:MM:SS.ffffff``), exact to the microsecond."""
    if dialect != "sqlite":
        return start + literal(spec.window)
    whole, micros = divmod(spec.window // timedelta(microseconds=1), 1_000_000)
    if not micros:  # whole seconds (the usual window): the fraction carries over as it is
        moved = func.datetime(func.substr(start, 1, 19), f"+{whole} seconds")
        return moved.op("||")(func.substr(start, 20))
    end = epoch_micros(start, dialect) + spec.window // timedelta(microseconds=1)
    seconds = func.strftime("%Y-%m-%d %H:%M:%S", end / 1_000_000, "unixepoch")
    return seconds.op("||")(func.printf(".%06d", end % 1_000_000))


def _ordered_levels(spec: FunnelSpec, filters: Filters, dialect: str) -> list[Any]:
    """Ordered funnels without a last-touch breakdown, set-based, step by step as a
    hand-written funnel query joins: the attempts (each first step in the range, with the end
    of its window and its first exclusion after the start), then per step ``k`` the attempts
    that reached step ``k − 1`` joined with the person's step-``k`` events after it, inside
    the window and before the exclusion, keeping the earliest. Each step's set (a
    materialised CTE) holds only the attempts still going, so later steps look at ever
    fewer; instants are compared in the column's own type, in the events' (name, customer,
    time) index. Returns the sets, the attempts first: an attempt reaches step ``k`` when
    it is in set ``k``."""
    starts = union_all(
        _starts_of(spec, filters, dialect, True), _starts_of(spec, filters, dialect, False)
    )
    levels: list[Any] = [starts.cte("attempts").prefix_with("MATERIALIZED")]
    for k in range(1, len(spec.steps)):
        level = _step_join(spec, filters, levels[-1], spec.steps[k]).cte(f"step{k}")
        levels.append(level.prefix_with("MATERIALIZED"))
    return levels


def _starts_of(spec: FunnelSpec, filters: Filters, dialect: str, customers: bool) -> Select[Any]:
    """The attempts of customers (or of anonymous ids): each first step in the range, with
    its instant (``t``), the end of its window (``lim``), its first exclusion after it
    (``x``, when the spec has exclusions) and its breakdown value. Customers and anonymous
    ids apart, so that the customers' read only the events' (name, customer, time) index."""
    t = Event.occurred_at
    person: list[Any]
    if customers:
        person = [Event.customer_id.label("cid"), cast(null(), Event.anonymous_index.type)]
        which: ColumnElement[bool] = Event.customer_id.is_not(None)
    else:
        person = [cast(null(), Event.customer_id.type).label("cid"), Event.anonymous_index]
        which = and_(Event.customer_id.is_(None), Event.anonymous_index.is_not(None))
    columns = [
        person[0],
        person[1].label("anon"),
        Event.id.label("id"),
        t.label("t"),
        _window_end(t, spec, dialect).label("lim"),
    ]
    if spec.exclusions:
        who = Event.customer_id if customers else Event.anonymous_index
        columns.append(_first_after(filters, spec.exclusions, t, who, customers).label("x"))
    if spec.breakdown is not None:
        columns.append(_breakdown_value(spec.breakdown).label("bv"))
    return select(*columns).where(*_range(filters, filters.end), which, Event.name == spec.steps[0])


def _start(level: Any) -> Any:
    """An attempt's start in a set of ``_ordered_levels`` (the attempts' own ``t``)."""
    return level.c.start if "start" in level.c else level.c.t


def _span(level: Any, dialect: str) -> Any:
    """Microseconds from an attempt's start to its step ``t`` (the time to convert)."""
    return epoch_micros(level.c.t, dialect) - epoch_micros(_start(level), dialect)


def _ordered_scored(spec: FunnelSpec, levels: list[Any], dialect: str) -> Subquery:
    """The attempts as ``compute`` ranks them, from the sets of ``_ordered_levels``: a row
    per attempt and step reached (the deepest row of the best attempt ranks first)."""
    n = len(levels)

    def scored(k: int, level: Any) -> Select[Any]:
        span = _span(level, dialect) if k == n - 1 else literal(None, BigInteger)
        touch = level.c.bv if spec.breakdown is not None else literal(None, String)
        return select(
            level.c.cid,
            level.c.anon,
            _start(level).label("start"),
            level.c.id,
            literal(k + 1).label("reached"),
            span.label("span"),
            touch.label("touch"),
        )

    return union_all(*(scored(k, level) for k, level in enumerate(levels))).subquery("scored")


def _ordered_totals(
    session: Session, spec: FunnelSpec, filters: Filters, dialect: str
) -> tuple[list[int], list[float]]:
    """Without a breakdown, the people per step need no ranking: a person reaches step
    ``k`` when any of their attempts does (distinct people per set); the times to convert
    are those of each converting person's earliest converting attempt. One statement."""
    levels = _ordered_levels(spec, filters, dialect)
    parts: list[Any] = [
        select(
            literal(k).label("k"),
            (func.count(distinct(level.c.cid)) + func.count(distinct(level.c.anon))).label("n"),
            literal(None, BigInteger).label("span"),
        )
        for k, level in enumerate(levels)
    ]
    last = levels[-1]
    earliest = select(
        _span(last, dialect).label("span"),
        func.row_number()
        .over(partition_by=[last.c.cid, last.c.anon], order_by=[_start(last), last.c.id])
        .label("rank"),
    ).subquery("converted")
    parts.append(
        select(literal(-1), func.count(), earliest.c.span)
        .where(earliest.c.rank == 1)
        .group_by(earliest.c.span)
    )
    totals = [0] * len(levels)
    durations: list[float] = []
    for k, count, span in session.execute(union_all(*parts)):
        if k >= 0:
            totals[k] = int(count)
        else:
            durations += [int(span) / 1_000_000] * int(count)
    return totals, durations


def _event_matches(filters: Filters, b: Any) -> list[Any]:
    """The source and customer filters, on the events' table or an alias of it."""
    conditions = []
    if filters.source is not None:
        conditions.append(b.c.source == filters.source)
    if filters.customer_ids is not None:
        conditions.append(among(b.c.customer_id, filters.customer_ids))
    return conditions


def _first_after(
    filters: Filters, names: Sequence[str], after: Any, person: Any, customers: bool
) -> Any:
    """The person's first event among ``names`` after the instant ``after`` (``person``: a
    customer id column, or an anonymous id one), a lookup in the events' (name, customer,
    time) index per attempt."""
    b = Event.__table__.alias("x")
    if customers:
        who = [b.c.customer_id == person]
    else:
        who = [b.c.customer_id.is_(None), b.c.anonymous_index == person]
    conditions = [b.c.name.in_(names), *who, b.c.occurred_at > after]
    return (
        select(func.min(b.c.occurred_at))
        .where(*conditions, *_event_matches(filters, b))
        .scalar_subquery()
    )


def _step_join(spec: FunnelSpec, filters: Filters, previous: Any, step: str) -> Any:
    """The attempts of ``previous`` that go on to ``step``: joined with the person's
    ``step`` events after the previous step, up to the window's end and before the
    exclusion, grouped to the earliest (customers and anonymous ids in two branches, so that
    each joins on an index)."""
    names = ["id", "cid", "anon", "lim"]
    names += ["x"] if spec.exclusions else []
    names += ["bv"] if spec.breakdown is not None else []
    carried = [previous.c[name] for name in names]
    # The attempt's start: its own instant in the attempts' set, carried along after.
    carried.append(_start(previous).label("start"))

    def branch(alias: str, customers: bool) -> Select[Any]:
        b = Event.__table__.alias(alias)
        person = (
            b.c.customer_id == previous.c.cid
            if customers
            else and_(b.c.customer_id.is_(None), b.c.anonymous_index == previous.c.anon)
        )
        on = [
            b.c.name == step,
            person,
            b.c.occurred_at > previous.c.t,
            b.c.occurred_at <= previous.c.lim,
            *_event_matches(filters, b),
        ]
        if spec.exclusions:
            on.append(or_(previous.c.x.is_(None), b.c.occurred_at < previous.c.x))
        return (
            select(*carried, func.min(b.c.occurred_at).label("t"))
            .select_from(previous.join(b, and_(*on)))
            .where(previous.c.cid.is_not(None) if customers else previous.c.cid.is_(None))
            .group_by(*carried)
        )

    return union_all(branch("bc", True), branch("ba", False))


def _strict(spec: FunnelSpec, events: Subquery) -> tuple[Subquery, Any, Any, Any, Any]:
    """Strict funnels: step ``k`` is the person's ``k``-th next event (``LEAD``)."""
    n = len(spec.steps)
    order = [events.c.e, events.c.id]
    leads: list[Any] = []
    for k in range(1, n):
        window: dict[str, Any] = {"partition_by": _person(events), "order_by": order}
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
    reached = _count(ok)
    first = attempts.c.bv if spec.breakdown is not None else None
    last: Any = first
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
    reached = _count([condition for condition, _ in seen])
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

"""Small synthetic datasets for segment tests, written straight to the tables segments read,
and a plain-Python evaluation of a rule over the same data (what the compiler must agree
with, on every backend)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from clientvault.customers.scores import CustomerScore
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order, OrderItem, Product
from clientvault.ingest.models import Event
from clientvault.privacy.models import ConsentRecord, Purpose
from clientvault.security.principal import Principal
from clientvault.segments import rules as r
from clientvault.segments.compiler import Context, count_holds, window_bounds
from clientvault.segments.traits import define_trait, read_trait
from clientvault.store.base import table_of

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
_TESTS = Principal.system("tests")


@dataclass
class Person:
    """A profile as segments see it."""

    id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: str = "active"
    merged_into: uuid.UUID | None = None
    country: str | None = None
    city: str | None = None
    postal_prefix: str | None = None
    birth_year: int | None = None
    gender: str | None = None
    language: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = NOW - timedelta(days=400)


@dataclass
class Happened:
    """An event of a person."""

    person: int
    name: str
    at: datetime
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Bought:
    """An order of a person, with one line of a category."""

    person: int
    at: datetime
    total: Decimal
    refunded: Decimal = Decimal("0")
    category: str = "shoes"


@dataclass
class Decided:
    """A consent decision."""

    person: int
    purpose: str
    decision: str
    at: datetime


@dataclass
class Scored:
    """A customer score."""

    person: int
    kind: str
    label: str | None
    value: float | None


@dataclass
class Dataset:
    """Everything one test writes."""

    people: list[Person]
    events: list[Happened] = field(default_factory=list)
    orders: list[Bought] = field(default_factory=list)
    consents: list[Decided] = field(default_factory=list)
    scores: list[Scored] = field(default_factory=list)
    #: Computed trait definitions (as written): defined, hence computed, by ``write``.
    traits: list[dict[str, Any]] = field(default_factory=list)


def write(session: Session, data: Dataset) -> None:
    """Insert a dataset (in the caller's transaction)."""
    roots = [p for p in data.people if p.merged_into is None]
    rest = [p for p in data.people if p.merged_into is not None]
    for group in (roots, rest):
        if group:
            session.execute(
                insert(table_of(Customer)),
                [
                    {
                        "id": p.id,
                        "status": p.status,
                        "merged_into_id": p.merged_into,
                        "country": p.country,
                        "city": p.city,
                        "postal_prefix": p.postal_prefix,
                        "birth_year": p.birth_year,
                        "gender": p.gender,
                        "language": p.language,
                        "traits": p.traits,
                        "created_at": p.created_at,
                        "updated_at": p.created_at,
                    }
                    for p in group
                ],
            )
    if data.events:
        session.execute(
            insert(table_of(Event)),
            [
                {
                    "message_id": f"m-{uuid.uuid4()}",
                    "type": "track",
                    "name": e.name,
                    "customer_id": data.people[e.person].id,
                    "occurred_at": e.at,
                    "received_at": e.at,
                    "properties": e.properties,
                    "context": {},
                }
                for e in data.events
            ],
        )
    categories = sorted({o.category for o in data.orders})
    product_ids: dict[str, int] = {}
    for number, category in enumerate(categories):
        product_ids[category] = session.scalars(
            insert(Product)
            .values(sku=f"sku-{number}-{uuid.uuid4().hex[:6]}", name=category, category=category)
            .returning(Product.id)
        ).one()
    for o in data.orders:
        order_id = session.scalars(
            insert(Order)
            .values(
                external_id=f"o-{uuid.uuid4()}",
                customer_id=data.people[o.person].id,
                placed_at=o.at,
                total=o.total,
                refunded_amount=o.refunded,
                status="completed",
            )
            .returning(Order.id)
        ).one()
        session.execute(
            insert(OrderItem).values(
                order_id=order_id,
                product_id=product_ids[o.category],
                quantity=1,
                unit_price=o.total,
            )
        )
    purposes = sorted({c.purpose for c in data.consents})
    for code in purposes:
        if session.get(Purpose, code) is None:
            session.add(Purpose(code=code, title=code, description=code, legal_basis="consent"))
    session.flush()
    for c in data.consents:
        session.add(
            ConsentRecord(
                customer_id=data.people[c.person].id,
                purpose=c.purpose,
                decision=c.decision,
                recorded_at=c.at,
                policy_version="v1",
                channel="web",
            )
        )
    for document in data.traits:
        define_trait(session, read_trait(document), principal=_TESTS, now=NOW)
    for s in data.scores:
        session.add(
            CustomerScore(
                customer_id=data.people[s.person].id,
                kind=s.kind,
                label=s.label,
                value=s.value,
                model_version="test",
                computed_at=NOW,
            )
        )
    session.flush()


# --- the plain-Python evaluation ----------------------------------------------------------


def live(data: Dataset) -> list[int]:
    """Indexes of the live people."""
    return [
        i
        for i, p in enumerate(data.people)
        if p.status not in ("merged", "erased") and p.merged_into is None
    ]


def evaluate(data: Dataset, node: r.Node, ctx: Context) -> set[uuid.UUID]:
    """The ids a rule holds for, computed in Python from the dataset."""
    return {data.people[i].id for i in live(data) if holds(data, node, ctx, i)}


def _in(moment: datetime, window: r.Window | None, ctx: Context) -> bool:
    since, until = window_bounds(window, ctx)
    return (since is None or moment >= since) and (until is None or moment < until)


def _value_matches(props: dict[str, Any], key: str, op: str, value: Any) -> bool:
    if op == "ne":
        return not _value_matches(props, key, "eq", value)
    got = props.get(key)
    if op == "in":
        return isinstance(got, str) and got in value
    if isinstance(value, bool):
        return isinstance(got, bool) and got == value
    if isinstance(value, str):
        return isinstance(got, str) and got == value
    if isinstance(got, bool) or not isinstance(got, int | float):
        return False
    return {
        "eq": got == value,
        "gt": got > value,
        "gte": got >= value,
        "lt": got < value,
        "lte": got <= value,
    }[op]


def _moment(moment: r.Moment | None, ctx: Context) -> datetime | None:
    if moment is None:
        return None
    if moment.days_ago is not None:
        return ctx.now - timedelta(days=moment.days_ago)
    if isinstance(moment.at, datetime):
        return moment.at
    assert moment.at is not None
    return datetime(moment.at.year, moment.at.month, moment.at.day, tzinfo=ctx.zone)


def _period_of(moment: datetime, unit: str, ctx: Context) -> date:
    """The first local day of the calendar period holding ``moment``."""
    day = moment.astimezone(ctx.zone).date()
    if unit == "week":
        return day - timedelta(days=day.isoweekday() - 1)
    if unit == "month":
        return date(day.year, day.month, 1)
    return day


def _periods(node: r.RegularlyCondition, ctx: Context) -> set[date]:
    """The first days of the periods a ``regularly`` condition looks at."""
    start = _period_of(ctx.now, node.unit, ctx)
    found = []
    for _ in range(node.total_periods + 1):
        found.append(start)
        # The period before: from the day before this one starts.
        start = _period_of(
            datetime(start.year, start.month, start.day, 12, tzinfo=ctx.zone) - timedelta(days=1),
            node.unit,
            ctx,
        )
    return set(found[:-1] if node.include_current else found[1:])


def _matches(e: Happened, spec: r.EventSpec) -> bool:
    return e.name == spec.name and all(
        _value_matches(e.properties, f.property, f.op, f.value) for f in spec.where
    )


def _compare(a: float, op: str, b: float) -> bool:
    return {
        "eq": a == b,
        "ne": a != b,
        "gt": a > b,
        "gte": a >= b,
        "lt": a < b,
        "lte": a <= b,
    }[op]


def holds(data: Dataset, node: r.Node, ctx: Context, i: int) -> bool:
    """Whether a rule node holds for person ``i``."""
    p = data.people[i]
    if isinstance(node, r.AllGroup):
        return all(holds(data, c, ctx, i) for c in node.all)
    if isinstance(node, r.AnyGroup):
        return any(holds(data, c, ctx, i) for c in node.any)
    if isinstance(node, r.NotGroup):
        return not holds(data, node.not_, ctx, i)
    if isinstance(node, r.AgeCondition):
        if p.birth_year is None:
            return False
        age = ctx.now.astimezone(ctx.zone).year - p.birth_year
        return (node.min is None or age >= node.min) and (node.max is None or age <= node.max)
    if isinstance(node, r.AttributeCondition):
        got = getattr(p, node.field)
        if node.op == "in":
            return got in node.values
        if node.op == "not_in":
            return got not in node.values
        if node.op == "is_set":
            return got is not None
        if node.op == "is_not_set":
            return got is None
        return got is not None and any(got.startswith(v) for v in node.values)
    if isinstance(node, r.TraitCondition):
        got = p.traits.get(node.key)
        if node.op == "is_set":
            return got is not None
        if node.op == "is_not_set":
            return got is None
        if node.op == "contains":
            return isinstance(got, list) and node.value in got
        return _value_matches(p.traits, node.key, node.op, node.value)
    mine = [e for e in data.events if e.person == i]
    if isinstance(node, r.ProfileDateCondition):
        if node.field == "created_at":
            return _in(p.created_at, node.window, ctx)
        if not mine:
            return False
        moments = [e.at for e in mine]
        return _in(min(moments) if node.field == "first_seen" else max(moments), node.window, ctx)
    if isinstance(node, r.EventCondition):
        count = sum(1 for e in mine if _matches(e, node.event) and _in(e.at, node.window, ctx))
        if node.count == "at_least" and node.value == 0:
            return True
        return count_holds(node.count, node.value, count)
    if isinstance(node, r.OccurrenceCondition):
        moments = [e.at for e in mine if _matches(e, node.event)]
        if not moments:
            return False
        return _in(min(moments) if node.which == "first" else max(moments), node.window, ctx)
    if isinstance(node, r.SequenceCondition):
        span = timedelta(seconds=node.within.seconds)
        for a in mine:
            if not (_matches(a, node.first) and _in(a.at, node.window, ctx)):
                continue
            if a.at > ctx.now - span:
                continue
            if not any(_matches(b, node.then_not) and a.at <= b.at <= a.at + span for b in mine):
                return True
        return False
    if isinstance(node, r.RegularlyCondition):
        wanted = _periods(node, ctx)
        per_period: dict[date, int] = {}
        for e in mine:
            start = _period_of(e.at, node.unit, ctx)
            if _matches(e, node.event) and start in wanted:
                per_period[start] = per_period.get(start, 0) + 1
        busy = [n for n in per_period.values() if n >= node.min_times]
        return len(busy) >= node.min_periods
    if isinstance(node, r.StoppedCondition | r.RestartedCondition):
        times = [e.at for e in mine if _matches(e, node.event)]
        start = _moment(node.active_from, ctx)
        quiet_from = _moment(node.quiet_from, ctx)
        assert quiet_from is not None
        active = any((start is None or t >= start) and t < quiet_from for t in times)
        if isinstance(node, r.StoppedCondition):
            return active and not any(t >= quiet_from for t in times)
        quiet_until = _moment(node.quiet_until, ctx)
        assert quiet_until is not None
        return (
            active
            and not any(quiet_from <= t < quiet_until for t in times)
            and any(t >= quiet_until for t in times)
        )
    if isinstance(node, r.ComputedTraitCondition):
        (document,) = [t for t in data.traits if t["name"] == node.name]
        got = trait_value(data, document, ctx, i)
        if node.op in ("is_set", "is_not_set"):
            return (got is not None) == (node.op == "is_set")
        if node.op == "contains":
            return isinstance(got, list) and node.value in got
        return _value_matches({"v": got}, "v", node.op, node.value)
    orders = [
        o for o in data.orders if o.person == i and _in(o.at, getattr(node, "window", None), ctx)
    ]
    if isinstance(node, r.OrdersCondition):
        if node.metric == "order_count":
            return _compare(len(orders), node.op, node.value)
        net = sum((o.total - o.refunded for o in orders), Decimal("0"))
        if node.metric == "total_spent":
            return _compare(float(net), node.op, node.value)
        if not orders:
            return False
        if node.metric == "average_basket":
            return _compare(float(net / len(orders)), node.op, node.value)
        last = max(o.at for o in orders)
        days = (ctx.now - last) / timedelta(days=1)
        return _compare(days, node.op, node.value)
    if isinstance(node, r.CategoryCondition):
        return any(o.category in node.categories for o in orders)
    if isinstance(node, r.ConsentCondition):
        mine_c = sorted(
            (c for c in data.consents if c.person == i and c.purpose == node.purpose),
            key=lambda c: c.at,
        )
        state = mine_c[-1].decision if mine_c else "none"
        return state == node.state
    if isinstance(node, r.ScoreCondition):
        for s in data.scores:
            if s.person != i or s.kind != node.kind:
                continue
            if node.labels and s.label not in node.labels:
                return False
            if node.op is not None and node.value is not None:
                return s.value is not None and _compare(s.value, node.op, node.value)
            return True
        return False
    raise AssertionError(f"no plain evaluation for {type(node).__name__}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def trait_value(data: Dataset, document: dict[str, Any], ctx: Context, i: int) -> Any:
    """Person ``i``'s value of a computed trait (as written) at ``ctx.now``, in Python."""
    spec = r.EventSpec.model_validate(document["event"])
    days = document.get("window_days")
    since = None if days is None else ctx.now - timedelta(days=days)
    # (moment, order logged, properties) of the person's events the trait reads.
    mine = [
        (e.at, n, e.properties)
        for n, e in enumerate(data.events)
        if e.person == i and _matches(e, spec) and (since is None or e.at >= since)
    ]
    aggregate = document["aggregate"]
    if aggregate == "count":
        return len(mine)
    key = document["property"]
    numbers = [float(p[key]) for _, _, p in mine if _number(p.get(key))]
    texts = [(at, p[key]) for at, _, p in mine if isinstance(p.get(key), str)]
    if aggregate == "sum":
        return sum(numbers)
    if aggregate in ("average", "min", "max"):
        if not numbers:
            return None
        if aggregate == "average":
            return sum(numbers) / len(numbers)
        return min(numbers) if aggregate == "min" else max(numbers)
    if aggregate == "unique":
        return sorted({t for _, t in texts}) or None
    if aggregate == "most_frequent":
        if not texts:
            return None
        counts = {
            t: (sum(1 for _, u in texts if u == t), max(a for a, u in texts if u == t))
            for _, t in texts
        }
        return sorted(counts, key=lambda t: (-counts[t][0], -counts[t][1].timestamp(), t))[0]
    held = [
        (at, n, p[key]) for at, n, p in mine if isinstance(p.get(key), str) or _number(p.get(key))
    ]
    if not held:
        return None
    value = (min(held) if aggregate == "first" else max(held))[2]
    return float(value) if _number(value) else value

"""The dashboard's KPIs, each computed by an aggregate query in the database.

Definitions (a range is ``[start, end)``; a *person* is a customer, or for events not yet
linked to one, an anonymous id — counted once either way):

* **visitors**: persons with at least one event in the range;
* **conversion rate**: visitors with an ``Order Completed`` event in the range ÷ visitors;
* **orders**: orders placed in the range;
* **revenue**: the orders' totals less what was refunded on them (net of refunds);
* **average order value (AOV)**: revenue ÷ orders;
* **repeat-purchase rate**: customers with two orders or more in the range ÷ customers with
  an order in the range;
* **retention**: customers who ordered in the previous period of the same length and again
  in this one ÷ customers who ordered in the previous period; **churn** = 1 − retention;
* **CSAT**: ``CSAT Survey Answered`` events with a ``score`` of 4 or 5 ÷ answers (scores 1–5);
* **refunds rate**: orders of the range with a refund ÷ orders.

Filters: ``source`` restricts the event-based KPIs (visitors, conversion, CSAT) to the events
of that tracking source (orders carry no source); ``customer_ids`` restricts every KPI to
those customers (ids, or a query of them: how a segment's members filter the dashboard,
``segment=`` in the console and the API). Time series
buckets are days, ISO weeks (Monday) or months in the installation's time zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    Select,
    Subquery,
    and_,
    case,
    distinct,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from clientvault.errors import InvalidInput
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event

ORDER_EVENT = "Order Completed"
CSAT_EVENT = "CSAT Survey Answered"
Grain = Literal["day", "week", "month"]
GRAINS: tuple[str, ...] = ("day", "week", "month")
#: The written definitions, shown as info tips on the dashboard and in the API.
DEFINITIONS: dict[str, str] = {
    "visitors": "People (customers or anonymous ids) with at least one event in the range.",
    "conversion_rate": "Visitors with an Order Completed event in the range ÷ visitors.",
    "orders": "Orders placed in the range.",
    "revenue": "Order totals less refunds on those orders (net of refunds).",
    "aov": "Average order value: revenue ÷ orders.",
    "repeat_rate": "Customers with 2+ orders in the range ÷ customers with an order.",
    "retention": "Customers who ordered in the previous period and again in this one ÷ "
    "customers who ordered in the previous period.",
    "churn": "1 − retention.",
    "csat": "CSAT Survey Answered events scored 4 or 5 ÷ all answers (scores 1–5).",
    "refund_rate": "Orders of the range with a refund ÷ orders.",
}


#: Which customers a query is restricted to: ids, or a query of ids (a segment's members,
#: which the database reads itself rather than a list passed back to it).
Customers = Sequence[uuid.UUID] | Select[Any]


def among(column: Any, customers: Customers) -> ColumnElement[bool]:
    """``column`` (a customer id) is one of ``customers``."""
    members: Any = customers if isinstance(customers, Select) else list(customers)
    condition: ColumnElement[bool] = column.in_(members)
    return condition


@dataclass(frozen=True)
class Filters:
    """A KPI query's range and filters."""

    start: datetime
    end: datetime
    source: str | None = None
    customer_ids: Customers | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInput("the range needs time-zone-aware instants")
        if self.end <= self.start:
            raise InvalidInput("the end of the range must be after its start")
        if self.end - self.start > timedelta(days=3700):
            raise InvalidInput("the range may span at most ten years")

    @classmethod
    def of_days(
        cls,
        first: date | None,
        last: date | None,
        zone: ZoneInfo,
        *,
        source: str | None = None,
        default_days: int = 30,
    ) -> Filters:
        """The range of calendar days ``first`` to ``last`` (both included) in ``zone``; by
        default the last ``default_days`` days up to today."""
        today = datetime.now(zone).date()
        last = last or today
        first = first or last - timedelta(days=default_days - 1)
        if first > last:
            raise InvalidInput("the first day of the range is after its last day")
        start = datetime(first.year, first.month, first.day, tzinfo=zone)
        after = last + timedelta(days=1)
        return cls(
            start, datetime(after.year, after.month, after.day, tzinfo=zone), source=source or None
        )

    def previous(self) -> Filters:
        """The period of the same length just before: what tiles compare with."""
        length = self.end - self.start
        return Filters(self.start - length, self.start, self.source, self.customer_ids)


def _event_filter(filters: Filters, lo: Any = None, hi: Any = None) -> list[ColumnElement[bool]]:
    conditions = [
        Event.occurred_at >= (filters.start if lo is None else lo),
        Event.occurred_at < (filters.end if hi is None else hi),
    ]
    if filters.source is not None:
        conditions.append(Event.source == filters.source)
    if filters.customer_ids is not None:
        conditions.append(among(Event.customer_id, filters.customer_ids))
    return conditions


def event_conditions(filters: Filters, lo: Any = None) -> list[ColumnElement[bool]]:
    """The conditions selecting the events of ``filters`` (range — from ``lo`` instead of
    its start when given —, source, customers): the one definition paths and lifecycle share
    with the KPIs."""
    return _event_filter(filters, lo)


def _order_filter(filters: Filters, lo: Any = None, hi: Any = None) -> list[ColumnElement[bool]]:
    conditions = [
        Order.placed_at >= (filters.start if lo is None else lo),
        Order.placed_at < (filters.end if hi is None else hi),
    ]
    if filters.customer_ids is not None:
        conditions.append(among(Order.customer_id, filters.customer_ids))
    return conditions


def _persons(condition: ColumnElement[bool] | None = None) -> ColumnElement[int]:
    """Distinct persons: customers, plus anonymous ids of events linked to no customer."""
    customer = Event.customer_id if condition is None else case((condition, Event.customer_id))
    anonymous_only: ColumnElement[bool] = Event.customer_id.is_(None)
    if condition is not None:
        anonymous_only = and_(anonymous_only, condition)
    anonymous = case((anonymous_only, Event.anonymous_index))
    return func.count(distinct(customer)) + func.count(distinct(anonymous))


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class Kpis:
    """The KPI set of one range (``None`` where a ratio has no denominator)."""

    visitors: int
    converted: int
    conversion_rate: float | None
    orders: int
    revenue: float
    aov: float | None
    buyers: int
    repeat_buyers: int
    repeat_rate: float | None
    retained: int
    previous_buyers: int
    retention: float | None
    churn: float | None
    csat_answers: int
    csat_satisfied: int
    csat: float | None
    refunded_orders: int
    refund_rate: float | None

    def as_dict(self) -> dict[str, Any]:
        """The KPIs as a JSON-ready mapping."""
        return dict(self.__dict__)


def _buyers(filters: Filters) -> Select[uuid.UUID | None, int]:
    return (
        select(Order.customer_id, func.count().label("orders"))
        .where(*_order_filter(filters), Order.customer_id.is_not(None))
        .group_by(Order.customer_id)
    )


def compute(session: Session, filters: Filters) -> Kpis:
    """Every KPI of the range, in five aggregate queries."""
    is_order = Event.name == ORDER_EVENT
    visitors, converted = session.execute(
        select(_persons(), _persons(is_order)).where(*_event_filter(filters))
    ).one()
    orders, revenue, refunded = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Order.total - Order.refunded_amount), 0),
            func.count(case((Order.refunded_amount > 0, 1))),
        ).where(*_order_filter(filters))
    ).one()
    buyers_q = _buyers(filters).subquery()
    buyers, repeat = session.execute(
        select(func.count(), func.count(case((buyers_q.c.orders >= 2, 1))))
    ).one()
    previous_q = _buyers(filters.previous()).subquery()
    previous, retained = session.execute(
        select(func.count(), func.count(buyers_q.c.customer_id)).select_from(
            previous_q.outerjoin(buyers_q, buyers_q.c.customer_id == previous_q.c.customer_id)
        )
    ).one()
    score = Event.properties["score"].as_float()
    answers, satisfied = session.execute(
        select(func.count(), func.count(case((score >= 4, 1)))).where(
            *_event_filter(filters), Event.name == CSAT_EVENT, score >= 1, score <= 5
        )
    ).one()
    revenue_f = float(revenue)
    retention = _ratio(retained, previous)
    return Kpis(
        visitors=int(visitors),
        converted=int(converted),
        conversion_rate=_ratio(converted, visitors),
        orders=int(orders),
        revenue=revenue_f,
        aov=_ratio(revenue_f, orders),
        buyers=int(buyers),
        repeat_buyers=int(repeat),
        repeat_rate=_ratio(repeat, buyers),
        retained=int(retained),
        previous_buyers=int(previous),
        retention=retention,
        churn=None if retention is None else 1 - retention,
        csat_answers=int(answers),
        csat_satisfied=int(satisfied),
        csat=_ratio(satisfied, answers),
        refunded_orders=int(refunded),
        refund_rate=_ratio(refunded, orders),
    )


def buckets(start: datetime, end: datetime, grain: str, zone: ZoneInfo) -> list[datetime]:
    """The starts of the day/week/month buckets covering ``[start, end)`` in ``zone`` (as
    aware instants, DST included), followed by ``end``: bucket ``i`` is ``[b[i], b[i+1])``."""
    if grain not in GRAINS:
        raise InvalidInput(f"unknown grain {grain!r}: use day, week or month")
    local = start.astimezone(zone)
    day = local.date()
    if grain == "week":
        day -= timedelta(days=day.weekday())
    elif grain == "month":
        day = day.replace(day=1)
    edges: list[datetime] = []
    while True:
        moment = datetime(day.year, day.month, day.day, tzinfo=zone)
        if moment >= end:
            break
        edges.append(max(moment, start))
        day = _next(day, grain)
        if len(edges) > 4000:
            raise InvalidInput("too many buckets: choose a coarser grain")
    return [*edges, end]


def _next(day: date, grain: str) -> date:
    if grain == "day":
        return day + timedelta(days=1)
    if grain == "week":
        return day + timedelta(days=7)
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def bucket_table(edges: Sequence[datetime], name: str) -> Subquery:
    """The buckets ``(i, lo, hi)`` as a derived table of bound parameters (a ``UNION ALL``
    of one-row selects: SQLite cannot name the columns of a ``VALUES`` list)."""
    stamp = Event.__table__.c.occurred_at.type
    rows = [
        select(
            literal(i, Integer).label("i"),
            literal(edges[i], stamp).label("lo"),
            literal(edges[i + 1], stamp).label("hi"),
        )
        for i in range(len(edges) - 1)
    ]
    return union_all(*rows).subquery(name)


@dataclass(frozen=True)
class Point:
    """One bucket of the time series."""

    start: datetime
    visitors: int
    converted: int
    orders: int
    revenue: float
    csat_answers: int
    csat_satisfied: int


def series(session: Session, filters: Filters, grain: str, zone: ZoneInfo) -> list[Point]:
    """Visitors, converters, orders, revenue and CSAT answers per bucket, by joining the rows
    to a table of bucket bounds (computed here in the installation's zone, so the same SQL
    runs on SQLite, which has no time zones, and PostgreSQL)."""
    edges = buckets(filters.start, filters.end, grain, zone)
    bounds = bucket_table(edges, "buckets")
    is_order = Event.name == ORDER_EVENT
    score = Event.properties["score"].as_float()
    csat = and_(Event.name == CSAT_EVENT, score >= 1, score <= 5)
    events = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                bounds.c.i,
                _persons(),
                _persons(is_order),
                func.count(case((csat, 1))),
                func.count(case((and_(csat, score >= 4), 1))),
            )
            .select_from(bounds)
            .join(Event, and_(*_event_filter(filters, bounds.c.lo, bounds.c.hi)))
            .group_by(bounds.c.i)
        )
    }
    orders = {
        row[0]: row[1:]
        for row in session.execute(
            select(bounds.c.i, func.count(), func.sum(Order.total - Order.refunded_amount))
            .select_from(bounds)
            .join(Order, and_(*_order_filter(filters, bounds.c.lo, bounds.c.hi)))
            .group_by(bounds.c.i)
        )
    }
    points = []
    for i in range(len(edges) - 1):
        v, c, answers, satisfied = events.get(i, (0, 0, 0, 0))
        n, revenue = orders.get(i, (0, 0))
        points.append(
            Point(
                edges[i], int(v), int(c), int(n), float(revenue or 0), int(answers), int(satisfied)
            )
        )
    return points

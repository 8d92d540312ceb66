"""Retention cohorts: acquisition cohorts × periods, as a matrix, with revenue per cohort.

Definitions (periods are calendar months or ISO weeks in the installation's time zone):

* a customer's **cohort** is the period of their first activity ever (``activity="any"``: any
  event; ``"ordered"``: an order) — first ever, not first in the range, so a returning customer
  is not counted as new; cohorts starting inside the range are shown;
* **period k** of a cohort is the k-th period after its start (period 0: the start itself);
* **classic** retention: share of the cohort active *in* period k; **cumulative** ("on or
  after"): share active in period k or any later period up to the range's end;
* **revenue**: net revenue (orders less refunds) of the cohort's customers in period k, and
  its cumulative sum per customer of the cohort (the cumulative revenue curve);
* empty periods are zeros; a cohort with no customer is left out.

All counting happens in the database: a row's period is a ``CASE`` over the period bounds
(computed here in the installation's zone, bound as parameters, so the same SQL runs on
SQLite and PostgreSQL), and only the matrix's cells come back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import Session

from clientvault.analytics.kpis import Customers, among, buckets
from clientvault.errors import InvalidInput
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event


@dataclass(frozen=True)
class CohortSpec:
    """Which cohorts: by month or week, activity ``any`` or ``ordered``, classic or
    cumulative."""

    grain: str = "month"
    activity: str = "ordered"
    cumulative: bool = False

    def __post_init__(self) -> None:
        if self.grain not in ("month", "week"):
            raise InvalidInput("cohorts are by month or by week")
        if self.activity not in ("any", "ordered"):
            raise InvalidInput("cohort activity is any (any event) or ordered")


@dataclass
class Cohort:
    """One acquisition cohort's row of the matrix."""

    start: datetime
    size: int
    active: list[int]
    retention: list[float]
    revenue: list[float]
    cumulative_revenue_per_customer: list[float]


def compute(
    session: Session,
    spec: CohortSpec,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    customer_ids: Customers | None = None,
) -> list[Cohort]:
    """The cohort matrix of cohorts starting in ``[start, end)``, followed until ``end``."""
    edges = buckets(start, end, spec.grain, zone)
    periods = len(edges) - 1

    def period(moment: Any) -> Any:
        """The period index of a timestamp (0 before the first bound, -1 from the last), as
        SQL: a binary search over the bounds (parameters) as nested CASEs, so a row costs
        four comparisons rather than up to twelve (the matrix reads every order)."""
        bounds = edges[1:]

        def search(lo: int, hi: int) -> Any:
            # The first index in [lo, hi) whose bound is after the moment, else ``hi``.
            if lo == hi:
                return literal(lo if lo < len(bounds) else -1)
            mid = (lo + hi) // 2
            return case((moment < bounds[mid], search(lo, mid)), else_=search(mid + 1, hi))

        return search(0, len(bounds))

    # The customers' activity rows (and their orders, for revenue), each stamped with the
    # customer's first activity ever by a window minimum — no join, so no plan can re-read a
    # table once per customer —; then the rows inside the range of customers whose first
    # activity is in it, summed per (customer, period) and per (cohort, period): only the
    # matrix's cells come back, from one statement (what a hand-written query returns).
    ordered = spec.activity == "ordered"
    parts: list[Any] = [
        select(
            Order.customer_id.label("customer"),
            Order.placed_at.label("at"),
            literal(1 if ordered else 0).label("visit"),
            (Order.total - Order.refunded_amount).label("net"),
        ).where(Order.customer_id.is_not(None), Order.placed_at < end)
    ]
    if not ordered:
        parts.append(
            select(Event.customer_id, Event.occurred_at, literal(1), literal(0)).where(
                Event.customer_id.is_not(None), Event.occurred_at < end
            )
        )
    if customer_ids is not None:
        parts = [part.where(among(part.selected_columns[0], customer_ids)) for part in parts]
    source: Any = parts[0]
    if len(parts) > 1:
        source = union_all(*parts)
    rows = source.subquery("rows")
    first = func.min(case((rows.c.visit == 1, rows.c.at))).over(partition_by=rows.c.customer)
    stamped = select(*rows.c, first.label("first")).subquery("stamped")
    # Periods in a subquery, grouped by their labels: PostgreSQL does not take two renderings
    # of a CASE (with their own bound parameters) as the same grouping expression.
    placed = (
        select(
            stamped.c.customer,
            period(stamped.c.first).label("cohort"),
            period(stamped.c.at).label("period"),
            stamped.c.visit,
            stamped.c.net,
        )
        .where(stamped.c.first >= start, stamped.c.first < end, stamped.c.at >= start)
        .subquery("placed")
    )
    per_customer = (
        select(
            placed.c.customer,
            placed.c.cohort,
            placed.c.period,
            func.max(placed.c.visit).label("visit"),
            func.sum(placed.c.net).label("net"),
        )
        .group_by(placed.c.customer, placed.c.cohort, placed.c.period)
        .subquery("per_customer")
    )
    active: dict[tuple[int, int], int] = defaultdict(int)
    revenue: dict[tuple[int, int], float] = defaultdict(float)
    for index, p, visitors, amount in session.execute(
        select(
            per_customer.c.cohort,
            per_customer.c.period,
            func.sum(per_customer.c.visit),
            func.sum(per_customer.c.net),
        ).group_by(per_customer.c.cohort, per_customer.c.period)
    ):
        active[(int(index), int(p))] = int(visitors or 0)
        revenue[(int(index), int(p))] = float(amount or 0)
    # Every member is active in their cohort's own period (their first activity is in it).
    sizes = {index: count for (index, p), count in active.items() if index == p and count}
    if spec.cumulative:
        last = (
            select(
                per_customer.c.cohort,
                func.max(case((per_customer.c.visit == 1, per_customer.c.period))).label("last"),
            )
            .group_by(per_customer.c.customer, per_customer.c.cohort)
            .subquery("last")
        )
        active.clear()
        for index, until, count in session.execute(
            select(last.c.cohort, last.c.last, func.count()).group_by(last.c.cohort, last.c.last)
        ):
            for p in range(int(index), int(until) + 1):
                active[(int(index), p)] += int(count)
    members = sizes
    cohorts = []
    for index in sorted(members):
        size = members[index]
        length = periods - index
        counts = [active.get((index, index + k), 0) for k in range(length)]
        amounts = [revenue.get((index, index + k), 0.0) for k in range(length)]
        running, curve = 0.0, []
        for amount in amounts:
            running += amount
            curve.append(running / size)
        cohorts.append(
            Cohort(edges[index], size, counts, [c / size for c in counts], amounts, curve)
        )
    return cohorts

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

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from clientvault.analytics.kpis import buckets
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
    customer_ids: Sequence[uuid.UUID] | None = None,
) -> list[Cohort]:
    """The cohort matrix of cohorts starting in ``[start, end)``, followed until ``end``."""
    edges = buckets(start, end, spec.grain, zone)
    periods = len(edges) - 1
    if spec.activity == "any":
        who, when = Event.customer_id, Event.occurred_at
    else:
        who, when = Order.customer_id, Order.placed_at

    def period(moment: Any) -> Any:
        """The period index of a timestamp, as SQL: a CASE over the bounds (parameters)."""
        return case(*((moment < edge, i) for i, edge in enumerate(edges[1:])), else_=-1)

    first = select(who.label("customer"), func.min(when).label("first"))
    first = first.where(who.is_not(None)).group_by(who).having(func.min(when) >= start)
    if customer_ids is not None:
        first = first.where(who.in_(list(customer_ids)))
    firsts = first.subquery("firsts")
    cohort = select(firsts.c.customer, period(firsts.c.first).label("cohort")).where(
        firsts.c.first < end
    )
    cohorts_q = cohort.subquery("cohorts")
    # Activity per (customer, period), then counted by (cohort, period) in the database: only
    # the matrix's cells come back (what a hand-written query returns).
    visits = (
        select(who.label("customer"), period(when).label("period"))
        .where(who.is_not(None), when >= start, when < end)
        .distinct()
        .subquery("visits")
    )
    joined = visits.join(cohorts_q, cohorts_q.c.customer == visits.c.customer)
    sizes: dict[Any, Any] = dict(
        session.execute(select(cohorts_q.c.cohort, func.count()).group_by(cohorts_q.c.cohort)).all()
    )
    active: dict[tuple[int, int], int] = defaultdict(int)
    if spec.cumulative:
        last = (
            select(cohorts_q.c.cohort, func.max(visits.c.period).label("last"))
            .select_from(joined)
            .group_by(cohorts_q.c.customer, cohorts_q.c.cohort)
            .subquery("last")
        )
        for index, until, count in session.execute(
            select(last.c.cohort, last.c.last, func.count()).group_by(last.c.cohort, last.c.last)
        ):
            for p in range(int(index), int(until) + 1):
                active[(int(index), p)] += int(count)
    else:
        for index, p, count in session.execute(
            select(cohorts_q.c.cohort, visits.c.period, func.count())
            .select_from(joined)
            .group_by(cohorts_q.c.cohort, visits.c.period)
        ):
            active[(int(index), int(p))] += int(count)
    revenue: dict[tuple[int, int], float] = defaultdict(float)
    # The period in a subquery, grouped by its label: PostgreSQL does not take two renderings
    # of the CASE (with their own bound parameters) as the same grouping expression.
    spend = (
        select(
            Order.customer_id.label("customer"),
            period(Order.placed_at).label("period"),
            (Order.total - Order.refunded_amount).label("net"),
        )
        .where(Order.placed_at >= start, Order.placed_at < end)
        .subquery("spend")
    )
    for index, p, amount in session.execute(
        select(cohorts_q.c.cohort, spend.c.period, func.sum(spend.c.net))
        .select_from(spend)
        .join(cohorts_q, cohorts_q.c.customer == spend.c.customer)
        .group_by(cohorts_q.c.cohort, spend.c.period)
    ):
        revenue[(int(index), int(p))] += float(amount or 0)
    members = {int(index): int(size) for index, size in sizes.items()}
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

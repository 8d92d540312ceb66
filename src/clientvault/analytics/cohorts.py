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

The database does the heavy part: one grouped query returns each customer's distinct active
periods (by bucket bounds joined like ``kpis.series``); the matrix is then filled here.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from clientvault.analytics.kpis import bucket_table, buckets
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
    bounds = bucket_table(edges, "periods")
    if spec.activity == "any":
        who, when = Event.customer_id, Event.occurred_at
        first_query = select(who, func.min(when)).where(who.is_not(None)).group_by(who)
    else:
        who, when = Order.customer_id, Order.placed_at
        first_query = select(who, func.min(when)).where(who.is_not(None)).group_by(who)
    if customer_ids is not None:
        first_query = first_query.where(who.in_(list(customer_ids)))
    cohort_of: dict[object, int] = {}
    for customer, first in session.execute(first_query.having(func.min(when) >= start)):
        for i in range(periods):
            if edges[i] <= first < edges[i + 1]:
                cohort_of[customer] = i
                break
    active: dict[object, set[int]] = defaultdict(set)
    activity = (
        select(who, bounds.c.i)
        .select_from(bounds)
        .join(
            Event if spec.activity == "any" else Order,
            and_(when >= bounds.c.lo, when < bounds.c.hi, who.is_not(None)),
        )
        .distinct()
    )
    for customer, i in session.execute(activity):
        if customer in cohort_of:
            active[customer].add(int(i))
    revenue: dict[tuple[int, int], float] = defaultdict(float)
    money = (
        select(Order.customer_id, bounds.c.i, func.sum(Order.total - Order.refunded_amount))
        .select_from(bounds)
        .join(Order, and_(Order.placed_at >= bounds.c.lo, Order.placed_at < bounds.c.hi))
        .where(Order.customer_id.is_not(None))
        .group_by(Order.customer_id, bounds.c.i)
    )
    for customer, i, amount in session.execute(money):
        if customer in cohort_of:
            revenue[(cohort_of[customer], int(i))] += float(amount or 0)
    members: dict[int, list[object]] = defaultdict(list)
    for person, index in cohort_of.items():
        members[index].append(person)
    cohorts = []
    for index in sorted(members):
        people = members[index]
        length = periods - index
        counts = [0] * length
        for person in people:
            seen = [i - index for i in active[person] if i >= index]
            if spec.cumulative:
                if seen:
                    for k in range(max(seen) + 1):
                        counts[k] += 1
            else:
                for k in seen:
                    counts[k] += 1
        amounts = [revenue.get((index, index + k), 0.0) for k in range(length)]
        running, curve = 0.0, []
        for amount in amounts:
            running += amount
            curve.append(running / len(people))
        cohorts.append(
            Cohort(
                edges[index], len(people), counts, [c / len(people) for c in counts], amounts, curve
            )
        )
    return cohorts

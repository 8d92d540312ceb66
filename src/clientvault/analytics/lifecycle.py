"""Lifecycle: per period, who is new, returning, resurrecting or dormant, as PostHog has it.

Definitions (periods are days, ISO weeks or months in the installation's time zone; a
*person* is a customer, or an anonymous id for events linked to no customer; *active* in a
period = at least one ``track`` event there, or one of the chosen event when given):

* **new**: active in the period, and never before it (their first activity ever);
* **returning**: active in the period and in the one before;
* **resurrecting**: active in the period, not in the one before, but at some time earlier;
* **dormant**: active in the period before, not in this one (shown below zero on the chart).

The period before the range's first one is the calendar period preceding it (or its part
before the range), so the first period's statuses are right too. Computed in the database:
one statement groups the person's active periods and reads the statuses off ``LAG``/``LEAD``
and a per-person ``MIN`` window; only the counts per (period, status) come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from clientvault.analytics.kpis import Filters, buckets, event_conditions
from clientvault.ingest.models import Event

STATUSES: tuple[str, ...] = ("new", "returning", "resurrecting", "dormant")
_BEFORE = {"day": timedelta(days=2), "week": timedelta(days=8), "month": timedelta(days=32)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """One period's people by status (dormant people counted positively here)."""

    start: datetime
    new: int
    returning: int
    resurrecting: int
    dormant: int


def compute(
    session: Session, filters: Filters, grain: str, zone: ZoneInfo, event: str | None = None
) -> list[Period]:
    """The lifecycle of ``filters``' range by ``grain``, over any event or only ``event``."""
    edges = buckets(filters.start, filters.end, grain, zone)
    before = buckets(filters.start - _BEFORE[grain], filters.start, grain, zone)[-2]
    bounds = [before, *edges]  # period 0: the one before the range; 1 … P: the range's
    last = len(bounds) - 2
    anonymous = case((Event.customer_id.is_(None), Event.anonymous_index), else_=None)
    period = case(
        (Event.occurred_at < before, -1),  # older history: "active at some time earlier"
        *((Event.occurred_at < edge, i - 1) for i, edge in enumerate(bounds) if i),
        else_=-2,
    )
    conditions = [
        *event_conditions(filters, _EPOCH),
        Event.type == "track",
        or_(Event.customer_id.is_not(None), Event.anonymous_index.is_not(None)),
    ]
    if event is not None:
        conditions.append(Event.name == event)
    rows = select(Event.customer_id.label("cid"), anonymous.label("anon"), period.label("p")).where(
        *conditions
    )
    active = rows.subquery("rows")
    distinct = (
        select(active.c.cid, active.c.anon, active.c.p)
        .group_by(active.c.cid, active.c.anon, active.c.p)
        .subquery("active")
    )
    person = [distinct.c.cid, distinct.c.anon]
    walk = select(
        distinct.c.p,
        func.min(distinct.c.p).over(partition_by=person).label("first"),
        func.lag(distinct.c.p).over(partition_by=person, order_by=distinct.c.p).label("prev"),
        func.lead(distinct.c.p).over(partition_by=person, order_by=distinct.c.p).label("next"),
    ).cte("walk")
    status = case(
        (walk.c.first == walk.c.p, "new"),
        (walk.c.prev == walk.c.p - 1, "returning"),
        else_="resurrecting",
    )
    present = select(walk.c.p.label("period"), status.label("status")).where(walk.c.p >= 1)
    gone = select((walk.c.p + 1).label("period"), literal("dormant").label("status")).where(
        walk.c.p >= 0,
        walk.c.p < last,
        or_(walk.c.next.is_(None), walk.c.next > walk.c.p + 1),
    )
    both = union_all(present, gone).subquery("statuses")
    counts: dict[tuple[int, str], int] = {}
    for index, name, n in session.execute(
        select(both.c.period, both.c.status, func.count()).group_by(both.c.period, both.c.status)
    ):
        counts[(int(index), str(name))] = int(n)
    return [
        Period(bounds[i], *(counts.get((i, s), 0) for s in STATUSES)) for i in range(1, last + 1)
    ]

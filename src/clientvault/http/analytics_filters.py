"""The analytics filters the API and the console share: a range of days, a source, a segment.

A segment filters the dashboards by its current members: the members' query goes into the
analytics queries (``kpis.Filters.customer_ids``), so the database reads the membership
itself, however large the segment. A segment of fewer members than the minimum group size is
refused: its KPI tiles would describe a handful of identifiable people. Analytics and
segments are independent domains; this is where the faces join them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.analytics import kpis
from clientvault.errors import InvalidInput
from clientvault.segments.export import members_of
from clientvault.segments.service import get_segment, list_segments
from clientvault.store.context import Store


def dashboard_filters(
    store: Store,
    zone: ZoneInfo,
    first: date | None,
    last: date | None,
    source: str | None,
    segment: str | None,
    min_group: int,
) -> kpis.Filters:
    """The filters of a dashboard request; ``segment`` is a slug (or id), and an unknown
    one is refused (``NotFound``) rather than read as "everyone"."""
    filters = kpis.Filters.of_days(first, last, zone, source=source)
    if not segment:
        return filters
    with store.read_sessions() as session:
        found = get_segment(session, segment)
        members = members_of(found)
        size = session.scalar(select(func.count()).select_from(members.subquery())) or 0
    if size < min_group:
        raise InvalidInput(
            f"segment {found.slug!r} has fewer than {min_group} members: its analytics are withheld"
        )
    return replace(filters, customer_ids=members)


def segment_choices(session: Session) -> list[tuple[str, str]]:
    """Every segment as (slug, name): the dashboard's segment filter."""
    return [(s.slug, s.name) for s in list_segments(session)]

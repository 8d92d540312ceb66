"""What the faces show of segments, read in one place for the API and the console: a page of
live members (ids and coarse attributes, never identifiers), the membership changes per
evaluation, the mix of a score's labels among members, and the builder's pickers drawn from
the data.

Counts are returned as they are; masking small groups (``service.shown_count``) and refusing
small member lists to roles without ``pii:reveal`` is the caller's decision, made with the
caller's principal.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from clientvault.customers.scores import CustomerScore, score_kinds
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Product
from clientvault.ingest.models import Event
from clientvault.privacy.purposes import list_purposes
from clientvault.segments.compiler import live_customers
from clientvault.segments.models import Segment, SegmentMember, SegmentMembership
from clientvault.segments.service import list_segments
from clientvault.segments.traits import event_properties, list_traits

#: At most this many values are offered by each of the builder's pickers.
PICKS = 100
#: How many live profiles' traits are sampled for the interests picker.
INTEREST_SAMPLE = 500


class MemberRow(NamedTuple):
    """One live member as the faces list it: coarse attributes only (a tuple, so that a
    template unpacks it)."""

    customer_id: uuid.UUID
    country: str | None
    city: str | None
    language: str | None
    entered_at: datetime


def _members(
    segment: Segment,
) -> Select[uuid.UUID, str | None, str | None, str | None, datetime]:
    return (
        select(
            SegmentMember.customer_id,
            Customer.country,
            Customer.city,
            Customer.language,
            SegmentMember.entered_at,
        )
        .join(Customer, Customer.id == SegmentMember.customer_id)
        .where(SegmentMember.segment_id == segment.id, live_customers())
    )


def count_members(session: Session, segment: Segment) -> int:
    """How many of the segment's members are live profiles (merged and erased ones are not)."""
    return int(session.scalar(select(func.count()).select_from(_members(segment).subquery())) or 0)


def list_members(
    session: Session,
    segment: Segment,
    *,
    order: Literal["id", "newest"] = "id",
    offset: int = 0,
    limit: int = 50,
) -> list[MemberRow]:
    """A page of the segment's live members, by customer id (stable paging: the API) or
    newest entries first (the console's glance)."""
    query = _members(segment)
    if order == "newest":
        query = query.order_by(SegmentMember.entered_at.desc())
    rows = session.execute(query.order_by(SegmentMember.customer_id).offset(offset).limit(limit))
    return [
        MemberRow(customer_id, country, city, language, entered_at)
        for customer_id, country, city, language, entered_at in rows
    ]


def membership_changes(
    session: Session, segment: Segment, *, limit: int = 200
) -> list[tuple[datetime, str, int]]:
    """How many customers entered and left at each evaluation (at, change, customers),
    newest evaluation first."""
    rows = session.execute(
        select(SegmentMembership.at, SegmentMembership.change, func.count())
        .where(SegmentMembership.segment_id == segment.id)
        .group_by(SegmentMembership.at, SegmentMembership.change)
        .order_by(SegmentMembership.at.desc())
        .limit(limit)
    )
    return [(at, str(change), int(n)) for at, change, n in rows]


def score_mix(session: Session, segment: Segment, kind: str) -> list[tuple[str, int]]:
    """How the members spread over a score's labels (e.g. RFM groups, personas), the
    commonest first."""
    rows = session.execute(
        select(CustomerScore.label, func.count())
        .join(SegmentMember, SegmentMember.customer_id == CustomerScore.customer_id)
        .where(SegmentMember.segment_id == segment.id, CustomerScore.kind == kind)
        .group_by(CustomerScore.label)
        .order_by(func.count().desc())
    ).all()
    return [(str(label), int(n)) for label, n in rows]


def pickers(session: Session) -> dict[str, Any]:
    """What the builder's pickers offer, drawn from the data: event names and properties,
    computed traits, product categories, countries, interests, purposes, scores and segments
    (at most ``PICKS`` each; the commonest events and countries first)."""
    events = session.scalars(
        select(Event.name)
        .where(Event.name.is_not(None), Event.type == "track")
        .group_by(Event.name)
        .order_by(func.count().desc())
        .limit(PICKS)
    ).all()
    categories = session.scalars(
        select(Product.category)
        .distinct()
        .where(Product.category.is_not(None))
        .order_by(Product.category)
        .limit(PICKS)
    ).all()
    countries = session.scalars(
        select(Customer.country)
        .where(Customer.country.is_not(None), live_customers())
        .group_by(Customer.country)
        .order_by(func.count().desc())
        .limit(PICKS)
    ).all()
    sample = session.scalars(
        select(Customer.traits).where(live_customers()).order_by(Customer.id).limit(INTEREST_SAMPLE)
    ).all()
    interests: set[str] = set()
    for traits in sample:
        found = (traits or {}).get("interests")
        if isinstance(found, list):
            interests.update(str(i) for i in found if isinstance(i, str))
    return {
        "events": list(events),
        "properties": event_properties(session),
        "traits": [t.name for t in list_traits(session)],
        "categories": list(categories),
        "countries": list(countries),
        "interests": sorted(interests)[:PICKS],
        "purposes": [p.code for p in list_purposes(session)],
        "scores": {k.kind: list(k.labels) for k in score_kinds(session)},
        "segments": [s.slug for s in list_segments(session)],
    }

"""The data of a customer's 360° view, shared by the console page and the API.

A person is a root profile and every profile merged into it; the view gathers, over all of
them, the golden record (``identity.golden``: identifiers masked unless the viewer may reveal
them and gives a reason), the identifiers by kind (counts, never values), the identifiers
kept in conflict (masked: another profile holds them at their kind's limit), consents per
original profile, the events timeline, the orders and the groups (accounts) the person
belongs to. Opening the view is audited like any
profile read (access alerts count these entries).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from clientvault.errors import PermissionDenied
from clientvault.identity.golden import MASK, golden_record
from clientvault.identity.graph import identities_by_kind, kept_identifiers
from clientvault.identity.merges import IDENTITY_REVIEW, merge_history
from clientvault.identity.models import Customer
from clientvault.identity.normalise import normalise_email, normalise_phone
from clientvault.identity.schemas import GoldenRecordRead, MergeRead
from clientvault.ingest.groups import GroupRead, groups_of
from clientvault.ingest.models import Event, Order
from clientvault.privacy.models import ConsentRecord
from clientvault.security import audit
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store

#: How many of the newest events and orders the view shows.
TIMELINE_LIMIT = 100
ORDERS_LIMIT = 50


class ProfileSummary(BaseModel):
    """One original profile of the person (no personal data)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    source: str | None
    created_at: datetime
    updated_at: datetime
    merged_into_id: uuid.UUID | None


class KeptIdentifier(BaseModel):
    """An identifier a profile brought that another profile held at its kind's limit: kept
    on the profile (masked: only its keyed hash is stored), not linked. ``held_by`` (the
    profile holding it) is shown to identity reviewers only, like the merge history."""

    kind: str
    value: str = MASK
    customer_id: uuid.UUID
    held_by: uuid.UUID | None
    source: str | None
    seen_at: datetime


class ConsentLine(BaseModel):
    """One consent decision, kept with the profile that gave it."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    purpose: str
    decision: str
    recorded_at: datetime
    policy_version: str
    channel: str


class TimelineEvent(BaseModel):
    """One event of the timeline (its name and type; properties stay in the event log)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: uuid.UUID | None
    type: str
    name: str | None
    occurred_at: datetime
    source: str | None


class OrderLine(BaseModel):
    """One order of the person."""

    model_config = ConfigDict(from_attributes=True)

    external_id: str
    customer_id: uuid.UUID | None
    status: str
    placed_at: datetime
    currency: str
    total: Decimal


class Customer360(BaseModel):
    """Everything the 360° view shows about one person."""

    golden: GoldenRecordRead
    profiles: list[ProfileSummary]
    identities: dict[str, int]
    kept_identifiers: list[KeptIdentifier]
    consents: list[ConsentLine]
    events: list[TimelineEvent]
    orders: list[OrderLine]
    groups: list[GroupRead]
    merges: list[MergeRead] | None  # only for viewers who review identities


def customer_360(
    session: Session,
    store: Store,
    *,
    customer_id: uuid.UUID,
    viewer: Principal,
    reason: str | None,
    settings: IdentitySettings,
) -> Customer360:
    """The 360° view of ``customer_id``'s person, as ``viewer`` may see it (audited)."""
    golden = golden_record(
        session, store, customer_id=customer_id, viewer=viewer, reason=reason, settings=settings
    )
    ids = golden.profile_ids
    profiles = session.scalars(select(Customer).where(Customer.id.in_(ids))).all()
    profiles = sorted(profiles, key=lambda p: ids.index(p.id))
    consents = session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.customer_id.in_(ids))
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
    ).all()
    events = session.scalars(
        select(Event)
        .where(Event.customer_id.in_(ids))
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(TIMELINE_LIMIT)
    ).all()
    orders = session.scalars(
        select(Order)
        .where(Order.customer_id.in_(ids))
        .order_by(Order.placed_at.desc())
        .limit(ORDERS_LIMIT)
    ).all()
    audit.record(
        session,
        principal=viewer,
        action="customer.viewed",
        target_type="customer",
        target_ids=[str(golden.customer_id)],
        details={"view": "360"},
    )
    reviewer = viewer.can(IDENTITY_REVIEW)
    return Customer360(
        golden=golden,
        profiles=[ProfileSummary.model_validate(p) for p in profiles],
        identities=identities_by_kind(session, ids),
        kept_identifiers=[
            KeptIdentifier(
                kind=kept.kind,
                customer_id=kept.customer_id,
                held_by=kept.owner_id if reviewer else None,
                source=kept.source,
                seen_at=kept.seen_at,
            )
            for kept in kept_identifiers(session, ids)
        ],
        consents=[ConsentLine.model_validate(c) for c in consents],
        events=[TimelineEvent.model_validate(e) for e in events],
        orders=[OrderLine.model_validate(o) for o in orders],
        groups=groups_of(session, ids),
        merges=merge_history(session, customer_id=golden.customer_id) if reviewer else None,
    )


def find_customers(
    session: Session,
    store: Store,
    *,
    query: str | None,
    viewer: Principal,
    default_region: str,
    limit: int = 50,
) -> list[ProfileSummary]:
    """People for the customer list: the newest, or those matching ``query``.

    A query is a profile id, or (for viewers who may reveal identifiers, since a hit tells
    that this address is a customer) an exact e-mail address or phone number, looked up
    through the blind indexes. A merged profile is listed as its survivor.
    """
    statement = select(Customer).where(Customer.status.not_in(("erased", "merged")))
    text = (query or "").strip()
    if text:
        roots = select(func.coalesce(Customer.merged_into_id, Customer.id)).where(
            _match(store, text, viewer, default_region)
        )
        statement = statement.where(Customer.id.in_(roots))
    rows = session.scalars(statement.order_by(Customer.created_at.desc()).limit(limit))
    return [ProfileSummary.model_validate(row) for row in rows]


def _match(store: Store, text: str, viewer: Principal, default_region: str) -> ColumnElement[bool]:
    try:
        return Customer.id == uuid.UUID(text)
    except ValueError:
        pass
    if not viewer.can(PII_REVEAL):
        raise PermissionDenied("searching by e-mail or phone needs the pii:reveal permission")
    if "@" in text:
        return Customer.email_index == store.index("email", normalise_email(text))
    phone = normalise_phone(text, default_region=default_region)
    return Customer.phone_index == store.index("phone", phone)

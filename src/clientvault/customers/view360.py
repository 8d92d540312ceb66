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

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.customers.schemas import (
    ConsentLine,
    Customer360,
    KeptIdentifier,
    OrderLine,
    ProfileSummary,
    TimelineEvent,
)
from clientvault.identity.golden import golden_record
from clientvault.identity.graph import identities_by_kind, kept_identifiers
from clientvault.identity.merges import IDENTITY_REVIEW, merge_history
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.groups import groups_of
from clientvault.ingest.models import Event
from clientvault.privacy.models import ConsentRecord
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store

#: How many of the newest events and orders the view shows.
TIMELINE_LIMIT = 100
ORDERS_LIMIT = 50


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

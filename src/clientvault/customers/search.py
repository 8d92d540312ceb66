"""The customer list: the newest people, or those a profile id, e-mail or phone finds."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from clientvault.customers.schemas import ProfileSummary
from clientvault.errors import PermissionDenied
from clientvault.identity.models import Customer
from clientvault.identity.normalise import normalise_email, normalise_phone
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.context import Store


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

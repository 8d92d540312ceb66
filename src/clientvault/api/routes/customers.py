"""Customer profiles over the API, with personal data shown according to the caller's role.

Reading a profile (``customers:read``: analysts, marketers, support, DPO) gives the
pseudonymised view: coarse attributes and whether identifiers exist, never their values.
Opening a customer's identifiers needs ``pii:reveal`` (support, DPO) and a reason, and goes
through the one audited reveal path; every profile view is audited too, which is what the
access alerts count. The list (``GET /api/v1/customers``) is ``customers.search``'s.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from clientvault.customers.search import CustomerListQuery, CustomerPage, list_customers
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, get_store
from clientvault.identity.models import SEALED_FIELDS
from clientvault.identity.profiles import get_customer, reveal_identifiers
from clientvault.identity.schemas import CustomerIdentifiers, CustomerRead

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])
ReadCustomers = Annotated[Caller, Depends(Authorize("customers:read"))]
RevealIdentifiers = Annotated[Caller, Depends(Authorize("pii:reveal"))]


@router.get("", response_model=CustomerPage)
def list_customers_endpoint(
    query: Annotated[CustomerListQuery, Query()],
    request: Request,
    caller: ReadCustomers,
    settings: SettingsDep,
) -> CustomerPage:
    """A page of customers, filtered, sorted and searched like the console's list.

    Pages are keyset pages: pass ``next_cursor`` back as ``cursor`` (with the same sort and
    direction) for the next one; it is ``null`` on the last page. ``q`` finds a profile id, a
    user id or an external id for any reader; an e-mail address, a phone number or a full
    name need ``pii:reveal`` (a hit tells that the person is a customer). ``email_hint`` is
    given to callers with ``pii:reveal`` only.
    """
    store = get_store(request)
    with store.read_sessions() as session, session.begin():
        return list_customers(
            session,
            store,
            query=query,
            viewer=caller.principal,
            default_region=settings.default_phone_region,
        )


@router.get("/{customer_id}", response_model=CustomerRead)
def read_customer(customer_id: uuid.UUID, request: Request, caller: ReadCustomers) -> CustomerRead:
    """One customer's pseudonymised profile (no identifier values)."""
    store = get_store(request)
    with store.sessions.begin() as session:
        profile = get_customer(session, store, customer_id=customer_id, by=caller.principal)
    return profile


class RevealFields(BaseModel):
    """Why identifiers are opened (kept in the audit log) and which ones (default: all)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=200)
    fields: list[str] | None = Field(default=None, max_length=len(SEALED_FIELDS))


@router.get("/{customer_id}/identifiers", response_model=CustomerIdentifiers, deprecated=True)
def open_identifiers(
    customer_id: uuid.UUID,
    request: Request,
    caller: RevealIdentifiers,
    reason: Annotated[str, Query(min_length=3, max_length=200)],
    fields: Annotated[list[str] | None, Query(max_length=len(SEALED_FIELDS))] = None,
) -> CustomerIdentifiers:
    """Deprecated (the reason lands in URL logs): POST to this path instead."""
    return _open(request, caller, customer_id, reason, fields)


@router.post("/{customer_id}/identifiers", response_model=CustomerIdentifiers)
def reveal(
    customer_id: uuid.UUID, body: RevealFields, request: Request, caller: RevealIdentifiers
) -> CustomerIdentifiers:
    """One customer's decrypted identifiers, for the reason in the body (audited per field)."""
    return _open(request, caller, customer_id, body.reason, body.fields)


def _open(
    request: Request,
    caller: Caller,
    customer_id: uuid.UUID,
    reason: str,
    fields: list[str] | None,
) -> CustomerIdentifiers:
    store = get_store(request)
    with store.sessions.begin() as session:
        revealed = reveal_identifiers(
            session,
            store,
            principal=caller.principal,
            customer_ids=[customer_id],
            fields=fields or SEALED_FIELDS,
            reason=reason,
        )
    return revealed[customer_id]

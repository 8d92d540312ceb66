"""The personal-data holders of the domains at or below ``privacy``: customer profiles and
their identifiers (identity), consents and processing limits (privacy), and the audit log
(security), registered on import."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from clientvault.identity.models import SEALED_FIELDS, Customer, CustomerIdentity
from clientvault.privacy.holders.registry import (
    Holder,
    HolderContext,
    HolderErasure,
    Rows,
    register_holder,
)
from clientvault.privacy.holders.rows import customer_rows, delete_where
from clientvault.privacy.models import ConsentRecord, ProcessingLimit
from clientvault.security.models import AuditEntry
from clientvault.security.pii import reveal

_CUSTOMER_COLUMNS = (
    "id",
    "status",
    "created_at",
    "updated_at",
    "source",
    "merged_into_id",
    "country",
    "city",
    "postal_prefix",
    "birth_year",
    "birthday",
    "gender",
    "language",
    "traits",
)


def _export_customers(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    sealed_columns = [getattr(Customer, f"{name}_sealed") for name in SEALED_FIELDS]
    plain = [getattr(Customer, name) for name in _CUSTOMER_COLUMNS]
    found = ctx.session.execute(
        select(*plain, *sealed_columns).where(Customer.id.in_(list(customer_ids)))
    ).all()
    sealed = {row.id: dict(zip(SEALED_FIELDS, row[len(plain) :], strict=True)) for row in found}
    opened = reveal(
        ctx.session,
        ctx.store.keystore,
        principal=ctx.principal,
        subject_type="customer",
        rows=sealed,
        reason=ctx.reason,
    )
    rows: Rows = []
    for row in found:
        values: dict[str, Any] = dict(zip(_CUSTOMER_COLUMNS, row[: len(plain)], strict=True))
        values.update(opened[row.id])
        rows.append(values)
    return rows


def _erase_customers(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    # One statement for the survivor and the profiles merged into it, so their references
    # to each other (merged_into_id) never point at a missing row in between.
    return delete_where(ctx, Customer, Customer.id.in_(list(customer_ids)))


def _customer_indexes(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> list[bytes]:
    rows = ctx.session.execute(
        select(Customer.email_index, Customer.phone_index).where(
            Customer.id.in_(list(customer_ids))
        )
    )
    return [value for row in rows for value in row if value is not None]


def _identity_indexes(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> list[bytes]:
    return list(
        ctx.session.scalars(
            select(CustomerIdentity.value_index).where(
                CustomerIdentity.customer_id.in_(list(customer_ids))
            )
        )
    )


def _customer_activity(since: datetime) -> Any:
    return select(Customer.id).where(Customer.updated_at >= since)


def _export_audit(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    rows = ctx.session.execute(
        select(
            AuditEntry.occurred_at,
            AuditEntry.actor_kind,
            AuditEntry.action,
            AuditEntry.target_id,
        )
        .where(
            AuditEntry.target_type == "customer",
            AuditEntry.target_id.in_([str(c) for c in customer_ids]),
        )
        .order_by(AuditEntry.id)
    )
    return [dict(row._mapping) for row in rows]


def _retain(_ctx: HolderContext, _customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    return HolderErasure("retained", 0)


_export_identities, _erase_identities = customer_rows(CustomerIdentity, exclude=("value_index",))
_consent_export, _consent_erase = customer_rows(ConsentRecord)
_limits_export, _limits_erase = customer_rows(ProcessingLimit)

CUSTOMERS = register_holder(
    Holder(
        name="identity.customers",
        domain="identity",
        description="The customer profile: identifiers (sealed) and coarse attributes.",
        tables=("customers",),
        categories=("identification", "contact details", "demographics", "traits"),
        purposes=("order_fulfilment", "marketing_email", "marketing_sms", "personalisation"),
        retention="while the customer is active; erased once inactive for the inactivity period, "
        "counted from their last activity (profile created or updated, latest event or order)",
        sources=("the customer (sign-up, tracking identify calls)", "imports"),
        recipients=("staff with the pii:reveal permission",),
        export=_export_customers,
        erase=_erase_customers,
        identifiers=_customer_indexes,
        activity=_customer_activity,
        erase_order=1000,
    )
)
IDENTITIES = register_holder(
    Holder(
        name="identity.identifiers",
        domain="identity",
        description="Identifiers seen for the customer (stored as keyed hashes only).",
        tables=("customer_identities",),
        categories=("online identifiers",),
        purposes=("order_fulfilment", "analytics"),
        retention="as long as the profile",
        sources=("tracking calls", "imports"),
        recipients=("none (internal identity resolution)",),
        export=_export_identities,
        erase=_erase_identities,
        identifiers=_identity_indexes,
        erase_order=900,
    )
)
CONSENTS = register_holder(
    Holder(
        name="privacy.consents",
        domain="privacy",
        description="Consent decisions per purpose with their proof.",
        tables=("consent_ledger",),
        categories=("consent records",),
        purposes=("legal_retention",),
        retention="as long as the profile (proof of consent)",
        sources=("the customer",),
        recipients=("the DPO",),
        export=_consent_export,
        erase=_consent_erase,
    )
)
LIMITS = register_holder(
    Holder(
        name="privacy.processing_limits",
        domain="privacy",
        description="Objections to direct marketing and restrictions of processing.",
        tables=("processing_limits",),
        categories=("data-subject choices",),
        purposes=("legal_retention",),
        retention="as long as the profile",
        sources=("the customer",),
        recipients=("the DPO",),
        export=_limits_export,
        erase=_limits_erase,
    )
)
AUDIT = register_holder(
    Holder(
        name="security.audit_log",
        domain="security",
        description="Who accessed or changed the customer's data (ids only, never values); "
        "kept after erasure as the controller's accountability record.",
        tables=("audit_log",),
        categories=("access records",),
        purposes=("legal_retention",),
        retention="kept (hash-chained, append-only); it holds ids, no personal values",
        sources=("clientvault itself",),
        recipients=("auditors", "the DPO"),
        export=_export_audit,
        erase=_retain,
    )
)

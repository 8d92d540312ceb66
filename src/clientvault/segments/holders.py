"""The personal-data holders of ``segments``: current memberships and their history, and
computed traits.

Memberships are profiling results (Art. 15 covers them): an export shows them, an erasure
deletes them. The history of a customer's entries and exits goes with them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from clientvault.privacy.holders.registry import (
    Holder,
    HolderContext,
    HolderErasure,
    Rows,
    delete_rows,
    plain_table,
    register_holder,
    rows_of,
)
from clientvault.segments.models import CustomerTrait, SegmentMember, SegmentMembership


def _export(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    return rows_of(ctx.session, SegmentMember, customer_ids=customer_ids) + rows_of(
        ctx.session, SegmentMembership, customer_ids=customer_ids
    )


def _erase(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    first = delete_rows(ctx.session, SegmentMember, customer_ids=customer_ids)
    second = delete_rows(ctx.session, SegmentMembership, customer_ids=customer_ids)
    return HolderErasure("deleted", first.rows + second.rows)


MEMBERSHIPS = register_holder(
    Holder(
        name="segments.memberships",
        domain="segments",
        description="The segments a customer is in, and when they entered and left each.",
        tables=("segment_members", "segment_memberships"),
        categories=("profiling results",),
        purposes=("profiling", "personalisation"),
        retention="while the segment exists; deleted with the profile",
        sources=("computed from the customer's profile, events, orders and consents",),
        recipients=("marketers (segments)",),
        export=_export,
        erase=_erase,
    )
)

_TRAITS_EXPORT, _TRAITS_ERASE = plain_table(CustomerTrait)

COMPUTED_TRAITS = register_holder(
    Holder(
        name="segments.computed_traits",
        domain="segments",
        description="Computed traits of a customer (counts, totals, favourite values of their "
        "events over a window).",
        tables=("customer_traits",),
        categories=("profiling results",),
        purposes=("profiling", "personalisation"),
        retention="recomputed from the event log; deleted with the profile",
        sources=("computed from the customer's events",),
        recipients=("marketers (segments)",),
        export=_TRAITS_EXPORT,
        erase=_TRAITS_ERASE,
    )
)

"""The personal-data holders of identity resolution: merge history, match candidates,
matching blocking keys and identifier conflicts, registered on import.

They live here rather than in ``identity`` because ``identity`` sits below ``privacy`` and may
not import the holder registry. Every one of them is deleted on erasure: a merge, a candidate
pair or a blocking key of an erased person would otherwise keep a trace of them (a keyed hash
of their name, the fact that they resembled somebody).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select

from clientvault.identity.matching.models import MatchBlockingKey
from clientvault.identity.models import (
    CustomerMerge,
    CustomerMergeMove,
    IdentifierConflict,
    MatchCandidate,
)
from clientvault.privacy.holders.registry import (
    Holder,
    HolderContext,
    HolderErasure,
    Rows,
    register_holder,
)
from clientvault.privacy.holders.rows import customer_rows, delete_where


def _merges_of(customer_ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    ids = list(customer_ids)
    return or_(CustomerMerge.survivor_id.in_(ids), CustomerMerge.absorbed_id.in_(ids))


def _export_merges(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    merges = ctx.session.execute(
        select(*CustomerMerge.__table__.columns)
        .where(_merges_of(customer_ids))
        .order_by(CustomerMerge.merged_at)
    )
    rows: Rows = []
    for merge in merges:
        row = dict(merge._mapping)
        row["moves"] = [
            dict(move._mapping)
            for move in ctx.session.execute(
                select(
                    CustomerMergeMove.table_name,
                    CustomerMergeMove.column,
                    CustomerMergeMove.row_id,
                    CustomerMergeMove.from_customer_id,
                ).where(CustomerMergeMove.merge_id == merge.id)
            )
        ]
        rows.append(row)
    return rows


def _erase_merges(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    # Their moves go with them (ON DELETE CASCADE).
    return delete_where(ctx, CustomerMerge, _merges_of(customer_ids))


def _candidates_of(customer_ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    ids = list(customer_ids)
    return or_(MatchCandidate.left_id.in_(ids), MatchCandidate.right_id.in_(ids))


def _export_candidates(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    rows = ctx.session.execute(
        select(*MatchCandidate.__table__.columns)
        .where(_candidates_of(customer_ids))
        .order_by(MatchCandidate.id)
    )
    return [dict(row._mapping) for row in rows]


def _erase_candidates(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    return delete_where(ctx, MatchCandidate, _candidates_of(customer_ids))


# The keyed hashes themselves mean nothing to the person; which kinds exist is shown.
_export_blocking_keys, _erase_blocking_keys = customer_rows(MatchBlockingKey, exclude=("key",))


def _conflicts_of(customer_ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    ids = list(customer_ids)
    return or_(IdentifierConflict.customer_id.in_(ids), IdentifierConflict.owner_id.in_(ids))


def _export_conflicts(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    # The keyed hash means nothing to the person; the kind, the two profiles and when are shown.
    columns = [c for c in IdentifierConflict.__table__.columns if c.name != "value_index"]
    rows = ctx.session.execute(
        select(*columns).where(_conflicts_of(customer_ids)).order_by(IdentifierConflict.id)
    )
    return [dict(row._mapping) for row in rows]


def _erase_conflicts(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    # Also the conflicts where the erased person is the owner: they would keep the fact that
    # somebody carried the erased person's identifier (the other profile's next call carrying
    # it links it normally, as nobody holds it any more).
    return delete_where(ctx, IdentifierConflict, _conflicts_of(customer_ids))


#: Identity resolution keeps one accurate profile per person, as the identifiers holder does.
_RESOLUTION = ("order_fulfilment", "analytics")

MERGES = register_holder(
    Holder(
        name="identity.merges",
        domain="identity",
        description="Merges of the customer's profiles (who, when, why) and what each moved, "
        "so a merge can be undone.",
        tables=("customer_merges", "customer_merge_moves"),
        categories=("profile lineage",),
        purposes=_RESOLUTION,
        retention="as long as the profile",
        sources=("identity resolution (automatic or by a reviewer)",),
        recipients=("staff with the identity:review permission",),
        export=_export_merges,
        erase=_erase_merges,
        erase_order=800,
    )
)
CANDIDATES = register_holder(
    Holder(
        name="identity.match_candidates",
        domain="identity",
        description="Pairs of profiles that may be the same person, with the match weights.",
        tables=("match_candidates",),
        categories=("profile similarity scores",),
        purposes=_RESOLUTION,
        retention="until reviewed, then as long as the profile",
        sources=("identity resolution",),
        recipients=("staff with the identity:review permission",),
        export=_export_candidates,
        erase=_erase_candidates,
        erase_order=810,
    )
)
BLOCKING_KEYS = register_holder(
    Holder(
        name="identity.blocking_keys",
        domain="identity",
        description="Keyed hashes of name, birth year, postcode, e-mail and phone used to find "
        "possible duplicates without decrypting anybody.",
        tables=("match_blocking_keys",),
        categories=("pseudonymised identifiers",),
        purposes=_RESOLUTION,
        retention="as long as the profile",
        sources=("the customer's profile",),
        recipients=("none (internal identity resolution)",),
        export=_export_blocking_keys,
        erase=_erase_blocking_keys,
        erase_order=820,
    )
)
CONFLICTS = register_holder(
    Holder(
        name="identity.identifier_conflicts",
        domain="identity",
        description="Identifiers the customer's profile brought that another profile already "
        "held at their kind's limit (kept as keyed hashes, never used to link the profiles).",
        tables=("identifier_conflicts",),
        categories=("online identifiers",),
        purposes=_RESOLUTION,
        retention="as long as the profile",
        sources=("tracking calls", "imports"),
        recipients=("staff with the identity:review permission",),
        export=_export_conflicts,
        erase=_erase_conflicts,
        # No erasure tombstones of kept values: each is another (living) profile's identifier,
        # whose calls a tombstone would suppress.
        erase_order=830,
    )
)

"""Merges that can be undone: two profiles become one person without losing either.

A merge changes as little as possible. Both profiles keep their own row, identifiers, events,
orders and data key; the absorbed profile gets status ``merged`` and ``merged_into_id`` = the
ROOT survivor (profiles already merged into it are re-pointed to that root too, so reaching
the person is always one hop). The identity graph resolves identifiers through that pointer,
so new events of either profile land on the survivor, and the golden record and 360° view read
the survivor together with its absorbed profiles. What the merge changed is kept in
``customer_merges`` (the absorbed profile's previous status and update time) and
``customer_merge_moves`` (each re-pointed row), so ``unmerge`` restores both profiles exactly.

Consent never leaks through a merge: consent_ledger rows are neither copied nor rewritten and
stay with the profile that gave them. The privacy layer decides what a merged person may
receive by requiring the consent of every profile merged into the survivor.

Automatic merges (probabilistic matching) call ``merge_customers`` with a system principal
holding ``identity:review``, e.g. ``Principal.system("identity-resolution", "identity:review")``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, or_, select, update
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from clientvault.identity.models import Customer, CustomerMerge, CustomerMergeMove, MatchCandidate
from clientvault.identity.schemas import MergeRead
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store.base import Base, new_id, table_of, utcnow
from clientvault.store.context import Store

#: The permission a principal needs to merge or un-merge profiles.
IDENTITY_REVIEW = "identity:review"
_CUSTOMERS = table_of(Customer)
#: Statuses a profile cannot be merged from or into.
_UNMERGEABLE = frozenset({"erased", "merged"})


def merge_customers(
    session: Session,
    store: Store,
    *,
    survivor_id: uuid.UUID,
    absorbed_id: uuid.UUID,
    principal: Principal,
    reason: str,
    candidate_id: int | None = None,
    new_candidate: MatchCandidate | None = None,
) -> uuid.UUID:
    """Merge ``absorbed_id``'s person into ``survivor_id``'s and return the merge's id.

    Either id may name a profile already merged into another: the merge joins the two roots.
    With ``candidate_id`` the match candidate is marked decided (``merged`` by a member of
    staff, ``auto_merged`` by a system job); it must name the same two people. With
    ``new_candidate`` instead, a candidate not stored yet (a pair matching just scored, naming
    these profiles), it is stored with the merge, already decided: one insert where a stored
    candidate costs an insert, a locked read and an update. Audited. Consent records are not
    touched (see the module docstring).
    """
    del store  # profiles keep their own data keys: nothing is re-sealed
    check_actor(principal, reason)
    survivor, absorbed = _roots(session, survivor_id, absorbed_id)
    if survivor.id == absorbed.id:
        raise Conflict("these profiles are already one person")
    for profile in (survivor, absorbed):
        if profile.status in _UNMERGEABLE:
            raise Conflict(f"a profile with status {profile.status!r} cannot be merged")
    candidate = None
    if candidate_id is not None:
        candidate = pending_candidate(session, candidate_id)
        named = {candidate.left_id, candidate.right_id}
        # Naming the candidate's own two profiles needs no second look-up of their roots.
        if named != {survivor_id, absorbed_id} and {
            _root(session, customer).id for customer in named
        } != {survivor.id, absorbed.id}:
            raise InvalidInput("the match candidate names other profiles")
    merged_at = utcnow()
    if new_candidate is not None:
        decide_candidate(
            new_candidate, _merged_status(principal), at=merged_at, principal=principal
        )
        session.add(new_candidate)
        session.flush()
        candidate_id = new_candidate.id
    merge = CustomerMerge(
        id=new_id(),
        survivor_id=survivor.id,
        absorbed_id=absorbed.id,
        candidate_id=candidate_id,
        absorbed_prior={"status": absorbed.status, "updated_at": absorbed.updated_at.isoformat()},
        reason=reason,
        merged_at=merged_at,
        merged_by=principal.id,
    )
    session.add(merge)
    session.flush()
    _repoint_absorbed_tree(session, merge)
    session.execute(
        update(_CUSTOMERS)
        .where(_CUSTOMERS.c.id == absorbed.id)
        # The profile's data did not change: keep its update time (survivorship reads it).
        .values(status="merged", merged_into_id=survivor.id, updated_at=_CUSTOMERS.c.updated_at)
    )
    if candidate is not None:
        decide_candidate(candidate, _merged_status(principal), at=merged_at, principal=principal)
    audit.record(
        session,
        principal=principal,
        action="identity.merge",
        target_type="customer",
        target_ids=[str(survivor.id), str(absorbed.id)],
        reason=reason,
        details={"merge_id": str(merge.id), "candidate_id": candidate_id},
    )
    merge_id = merge.id  # read before expiring: no reload of the row just written
    # Stored before expiring: inside ``audit.appending_together`` recording flushes nothing.
    session.flush()
    session.expire_all()
    return merge_id


def _merged_status(principal: Principal) -> str:
    """A merged candidate's status: ``auto_merged`` when a system job merged it."""
    return "auto_merged" if principal.kind == "system" else "merged"


def unmerge(
    session: Session, store: Store, *, merge_id: uuid.UUID, principal: Principal, reason: str
) -> None:
    """Undo a merge: both profiles get back exactly what they had before it. Audited.

    A merge whose survivor has since been merged into a third person is undone only after
    that later merge (otherwise the re-pointed rows would be restored to the wrong profile).
    A match candidate behind the merge is marked ``rejected``: a person said they differ.
    What arrived while the merge was in force (events, identifiers, identify traits) was
    attributed to the survivor and stays with it.
    """
    del store
    check_actor(principal, reason)
    merge = session.get(CustomerMerge, merge_id, with_for_update=True)
    if merge is None:
        raise NotFound("no such merge")
    if merge.undone_at is not None:
        raise Conflict("this merge was already undone")
    absorbed = session.get(Customer, merge.absorbed_id, with_for_update=True)
    if absorbed is None or absorbed.merged_into_id != merge.survivor_id:
        raise Conflict("the survivor was merged again since: undo that later merge first")
    for move in session.scalars(
        select(CustomerMergeMove).where(CustomerMergeMove.merge_id == merge.id)
    ):
        _restore(session, move)
    prior = merge.absorbed_prior
    session.execute(
        update(_CUSTOMERS)
        .where(_CUSTOMERS.c.id == merge.absorbed_id)
        .values(
            status=prior["status"],
            merged_into_id=None,
            updated_at=datetime.fromisoformat(prior["updated_at"]),
        )
    )
    merge.undone_at = utcnow()
    merge.undone_by = principal.id
    merge.undo_reason = reason
    if merge.candidate_id is not None:
        candidate = session.get(MatchCandidate, merge.candidate_id)
        if candidate is not None:
            decide_candidate(candidate, "rejected", at=merge.undone_at, principal=principal)
    audit.record(
        session,
        principal=principal,
        action="identity.unmerge",
        target_type="customer",
        target_ids=[str(merge.survivor_id), str(merge.absorbed_id)],
        reason=reason,
        details={"merge_id": str(merge.id)},
    )
    session.flush()  # before expiring (see merge_customers)
    session.expire_all()


def root_id(session: Session, customer_id: uuid.UUID) -> uuid.UUID:
    """The profile a customer now lives in: itself, or the root survivor it was merged into."""
    return _root(session, customer_id).id


def person_ids(session: Session, root: uuid.UUID) -> list[uuid.UUID]:
    """A root profile and every profile merged into it (root first, then oldest first)."""
    absorbed = session.scalars(
        select(Customer.id).where(Customer.merged_into_id == root).order_by(Customer.created_at)
    ).all()
    return [root, *absorbed]


def merge_history(session: Session, *, customer_id: uuid.UUID) -> list[MergeRead]:
    """Every merge (undone ones too) that involved this customer's person, newest first."""
    people = person_ids(session, root_id(session, customer_id))
    if customer_id not in people:
        people.append(customer_id)
    merges = session.scalars(
        select(CustomerMerge)
        .where(or_(CustomerMerge.survivor_id.in_(people), CustomerMerge.absorbed_id.in_(people)))
        .order_by(CustomerMerge.merged_at.desc())
    )
    return [MergeRead.model_validate(merge) for merge in merges]


def check_actor(principal: Principal, reason: str) -> None:
    """Refuse a principal without ``identity:review`` or a decision without a reason."""
    if not principal.can(IDENTITY_REVIEW):
        raise PermissionDenied("this principal may not merge or un-merge profiles")
    if not reason.strip() or len(reason) > 200:
        raise InvalidInput("a reason of 1 to 200 characters is required")


def _root(session: Session, customer_id: uuid.UUID) -> Customer:
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise NotFound("no such customer")
    return _root_of(session, customer)


def _root_of(session: Session, customer: Customer) -> Customer:
    if customer.merged_into_id is not None:
        root = session.get(Customer, customer.merged_into_id, with_for_update=True)
        if root is None:
            raise NotFound("no such customer")
        return root
    return customer


def _roots(
    session: Session, survivor_id: uuid.UUID, absorbed_id: uuid.UUID
) -> tuple[Customer, Customer]:
    """The root profiles of both sides of a merge, locked for update: both profiles in one
    statement (locked in key order), then the root of either if it was merged."""
    found = {
        customer.id: customer
        for customer in session.scalars(
            select(Customer)
            .where(Customer.id.in_([survivor_id, absorbed_id]))
            .order_by(Customer.id)
            .with_for_update()
        )
    }
    if survivor_id not in found or absorbed_id not in found:
        raise NotFound("no such customer")
    return _root_of(session, found[survivor_id]), _root_of(session, found[absorbed_id])


def pending_candidate(session: Session, candidate_id: int) -> MatchCandidate:
    """The match candidate, locked for update, or ``NotFound``; ``Conflict`` once decided.

    Merging and rejecting both decide a candidate, and a decision is final: checked here once
    for both paths.
    """
    candidate = session.get(MatchCandidate, candidate_id, with_for_update=True)
    if candidate is None:
        raise NotFound("no such match candidate")
    if candidate.status != "pending":
        raise Conflict(f"this match candidate was already decided ({candidate.status})")
    return candidate


def decide_candidate(
    candidate: MatchCandidate, status: str, *, at: datetime, principal: Principal
) -> None:
    """Record a decision on a match candidate: its new status, when and by whom.

    One place for the three decisions (merged or auto-merged, rejected by a reviewer, rejected
    when its merge is undone) so the review queue always shows who decided and when.
    """
    candidate.status = status
    candidate.decided_at = at
    candidate.decided_by = principal.id


def _repoint_absorbed_tree(session: Session, merge: CustomerMerge) -> None:
    """Profiles merged into the absorbed one earlier now point at the new root (recorded)."""
    moved = session.scalars(
        select(Customer.id).where(Customer.merged_into_id == merge.absorbed_id)
    ).all()
    if not moved:
        return
    session.execute(
        insert(table_of(CustomerMergeMove)),
        [
            {
                "merge_id": merge.id,
                "table_name": "customers",
                "column": "merged_into_id",
                "row_id": str(customer_id),
                "from_customer_id": merge.absorbed_id,
            }
            for customer_id in moved
        ],
    )
    session.execute(
        update(_CUSTOMERS)
        .where(_CUSTOMERS.c.merged_into_id == merge.absorbed_id)
        # Re-pointing is bookkeeping, not a change of the profile: keep its update time.
        .values(merged_into_id=merge.survivor_id, updated_at=_CUSTOMERS.c.updated_at)
    )


def _restore(session: Session, move: CustomerMergeMove) -> None:
    """Put one re-pointed row's customer reference back (any table, by its primary key)."""
    table: Table = Base.metadata.tables[move.table_name]
    [key] = table.primary_key.columns
    row_id: Any = move.row_id
    if key.type.python_type is uuid.UUID:
        row_id = uuid.UUID(row_id)
    elif key.type.python_type is int:
        row_id = int(row_id)
    values: dict[str, Any] = {move.column: move.from_customer_id}
    if "updated_at" in table.c:
        values["updated_at"] = table.c.updated_at
    session.execute(update(table).where(key == row_id).values(values))

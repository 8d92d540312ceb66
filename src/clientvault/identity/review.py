"""The review queue: match candidates in the grey zone, decided by a person.

Probabilistic matching writes ``match_candidates``; a reviewer merges a pair (through
``identity.merges``, which records the decision on the candidate) or rejects it. Every
decision is audited; the queue shows ids and match weights only, never personal data.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound
from clientvault.identity.merges import (
    check_actor,
    decide_candidate,
    merge_customers,
    pending_candidate,
)
from clientvault.identity.models import Customer, CustomerMerge, MatchCandidate
from clientvault.identity.schemas import CandidateRead
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow
from clientvault.store.context import Store


def list_candidates(
    session: Session, *, status: str | None = "pending", limit: int = 50, offset: int = 0
) -> list[CandidateRead]:
    """Candidates of a status (all with None), most probable first."""
    query = select(MatchCandidate)
    if status is not None:
        query = query.where(MatchCandidate.status == status)
    rows = session.scalars(
        query.order_by(MatchCandidate.match_probability.desc(), MatchCandidate.id)
        .limit(limit)
        .offset(offset)
    )
    return [CandidateRead.model_validate(row) for row in rows]


def count_candidates(session: Session, *, status: str = "pending") -> int:
    """How many candidates have this status (the queue's length for ``pending``)."""
    count = session.scalar(
        select(func.count()).select_from(MatchCandidate).where(MatchCandidate.status == status)
    )
    return int(count or 0)


def candidate_profiles(session: Session, customer_ids: list[uuid.UUID]) -> list[Customer]:
    """The (pseudonymised) profiles the queue puts side by side, those still present."""
    return list(session.scalars(select(Customer).where(Customer.id.in_(customer_ids))))


def recent_merges(session: Session, *, limit: int) -> list[CustomerMerge]:
    """The newest merges not undone, newest first (the queue offers to un-merge them)."""
    return list(
        session.scalars(
            select(CustomerMerge)
            .where(CustomerMerge.undone_at.is_(None))
            .order_by(CustomerMerge.merged_at.desc())
            .limit(limit)
        )
    )


def get_candidate(session: Session, *, candidate_id: int) -> CandidateRead:
    """One candidate with its explanation."""
    candidate = session.get(MatchCandidate, candidate_id)
    if candidate is None:
        raise NotFound("no such match candidate")
    return CandidateRead.model_validate(candidate)


def merge_candidate(
    session: Session,
    store: Store,
    *,
    candidate_id: int,
    principal: Principal,
    reason: str,
    survivor_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Merge a candidate's two people and return the merge id.

    The survivor is ``survivor_id`` (one of the pair) or else the older profile, whose id
    other systems have known longest.
    """
    candidate = get_candidate(session, candidate_id=candidate_id)
    pair = (candidate.left_id, candidate.right_id)
    if survivor_id is None:
        created = {
            customer: moment
            for customer, moment in session.execute(
                select(Customer.id, Customer.created_at).where(Customer.id.in_(pair))
            )
        }
        survivor_id = min(pair, key=lambda customer: (created.get(customer), str(customer)))
    elif survivor_id not in pair:
        raise InvalidInput("the survivor must be one of the candidate's two profiles")
    absorbed_id = pair[1] if survivor_id == pair[0] else pair[0]
    return merge_customers(
        session,
        store,
        survivor_id=survivor_id,
        absorbed_id=absorbed_id,
        principal=principal,
        reason=reason,
        candidate_id=candidate_id,
    )


def reject_candidate(
    session: Session, *, candidate_id: int, principal: Principal, reason: str
) -> None:
    """Record that a candidate's two profiles are different people (audited)."""
    check_actor(principal, reason)
    candidate = pending_candidate(session, candidate_id)
    decide_candidate(candidate, "rejected", at=utcnow(), principal=principal)
    audit.record(
        session,
        principal=principal,
        action="identity.candidate_rejected",
        target_type="customer",
        target_ids=[str(candidate.left_id), str(candidate.right_id)],
        reason=reason,
        details={"candidate_id": candidate_id},
    )

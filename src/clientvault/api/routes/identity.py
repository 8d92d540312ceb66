"""Identity resolution over the API: the review queue, merges and un-merges, merge history
(``identity:review``), and a customer's 360° view (``customers:read``; its identifiers are
revealed only with ``pii:reveal`` and a reason, through the audited reveal path).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from clientvault.customers.schemas import Customer360
from clientvault.customers.view360 import customer_360
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.http.params import Offset, RowId
from clientvault.identity import review
from clientvault.identity.merges import merge_customers, merge_history, unmerge
from clientvault.identity.schemas import CandidateRead, MergeRead

router = APIRouter(prefix="/api/v1", tags=["identity"])
Review = Annotated[Caller, Depends(Authorize("identity:review"))]
ReadCustomers = Annotated[Caller, Depends(Authorize("customers:read"))]
Reason = Annotated[str, Field(min_length=3, max_length=200)]


class Decision(BaseModel):
    """Why a candidate is rejected or a merge undone (kept in the audit log: no PII)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class RevealIn(Decision):
    """Why personal data is opened (the audit entry's reason), sent in a body, never a URL."""


class CandidateMerge(Decision):
    """Merge a candidate; the survivor defaults to the older profile."""

    survivor_id: uuid.UUID | None = None


class ManualMerge(Decision):
    """Merge two customers named directly."""

    survivor_id: uuid.UUID
    absorbed_id: uuid.UUID


class Merged(BaseModel):
    """The merge just made (undo it with ``POST /identity/merges/{merge_id}/undo``)."""

    merge_id: uuid.UUID


@router.get("/identity/candidates", response_model=list[CandidateRead])
def list_candidates(
    caller: Review,
    store: StoreDep,
    status: Literal["pending", "merged", "rejected", "auto_merged"] | None = "pending",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[CandidateRead]:
    """The review queue (pending candidates, most probable first) with explanations."""
    with store.read_sessions() as session:
        return review.list_candidates(session, status=status, limit=limit, offset=offset)


@router.get("/identity/candidates/{candidate_id}", response_model=CandidateRead)
def read_candidate(candidate_id: RowId, caller: Review, store: StoreDep) -> CandidateRead:
    """One candidate and the match weight of each comparison."""
    with store.read_sessions() as session:
        return review.get_candidate(session, candidate_id=candidate_id)


@router.post("/identity/candidates/{candidate_id}/merge", response_model=Merged)
def merge_candidate(
    candidate_id: RowId, body: CandidateMerge, caller: Review, store: StoreDep
) -> Merged:
    """Merge a candidate's two profiles (audited)."""
    with store.sessions.begin() as session:
        merge_id = review.merge_candidate(
            session,
            store,
            candidate_id=candidate_id,
            principal=caller.principal,
            reason=body.reason,
            survivor_id=body.survivor_id,
        )
    return Merged(merge_id=merge_id)


@router.post("/identity/candidates/{candidate_id}/reject", status_code=204)
def reject_candidate(candidate_id: RowId, body: Decision, caller: Review, store: StoreDep) -> None:
    """Record that a candidate's profiles are different people (audited)."""
    with store.sessions.begin() as session:
        review.reject_candidate(
            session, candidate_id=candidate_id, principal=caller.principal, reason=body.reason
        )


@router.post("/identity/merges", response_model=Merged)
def merge_two(body: ManualMerge, caller: Review, store: StoreDep) -> Merged:
    """Merge two customers named directly (audited)."""
    with store.sessions.begin() as session:
        merge_id = merge_customers(
            session,
            store,
            survivor_id=body.survivor_id,
            absorbed_id=body.absorbed_id,
            principal=caller.principal,
            reason=body.reason,
        )
    return Merged(merge_id=merge_id)


@router.post("/identity/merges/{merge_id}/undo", status_code=204)
def undo_merge(merge_id: uuid.UUID, body: Decision, caller: Review, store: StoreDep) -> None:
    """Un-merge: both profiles get back exactly what they had (audited)."""
    with store.sessions.begin() as session:
        unmerge(session, store, merge_id=merge_id, principal=caller.principal, reason=body.reason)


@router.get("/customers/{customer_id}/merges", response_model=list[MergeRead])
def customer_merges(customer_id: uuid.UUID, caller: Review, store: StoreDep) -> list[MergeRead]:
    """Every merge (undone ones too) involving this customer's person, newest first."""
    with store.read_sessions() as session:
        return merge_history(session, customer_id=customer_id)


@router.get("/customers/{customer_id}/360", response_model=Customer360)
def customer_view(
    customer_id: uuid.UUID,
    caller: ReadCustomers,
    store: StoreDep,
    settings: SettingsDep,
    reason: Annotated[
        str | None,
        Query(
            min_length=3,
            max_length=200,
            deprecated=True,
            description="Deprecated: a reason in a URL lands in logs and histories; POST the "
            "reason to this path instead.",
        ),
    ] = None,
) -> Customer360:
    """A person's 360° view: golden record (identifiers masked; POST a reason to see them),
    identifiers by kind, consents, events and orders. Audited."""
    with store.sessions.begin() as session:
        return customer_360(
            session,
            store,
            customer_id=customer_id,
            viewer=caller.principal,
            reason=reason,
            settings=settings.identity,
        )


@router.post("/customers/{customer_id}/360", response_model=Customer360)
def customer_view_revealed(
    customer_id: uuid.UUID,
    body: RevealIn,
    caller: ReadCustomers,
    store: StoreDep,
    settings: SettingsDep,
) -> Customer360:
    """The 360° view with identifiers revealed (``pii:reveal``), for the reason in the body:
    never in the URL, which servers and proxies log. Audited per profile."""
    with store.sessions.begin() as session:
        return customer_360(
            session,
            store,
            customer_id=customer_id,
            viewer=caller.principal,
            reason=body.reason,
            settings=settings.identity,
        )

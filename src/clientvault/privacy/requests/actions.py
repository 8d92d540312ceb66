"""What carrying out each kind of data-subject request does, through the privacy core.

Kept apart from the workflow (``lifecycle``) so that the workflow's rules — verified first,
one extension, audited steps — read the same whatever a request asks for.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from clientvault.privacy import consent
from clientvault.privacy.erasure import erase_customer
from clientvault.privacy.export import export_archive
from clientvault.privacy.holders.registry import ErasureMode
from clientvault.privacy.requests.models import DataSubjectRequest
from clientvault.security.principal import Principal
from clientvault.store.context import Store

#: The channel the consent ledger records for decisions taken through a request.
CHANNEL = "dsr"


def execute(
    session: Session,
    store: Store,
    *,
    request: DataSubjectRequest,
    principal: Principal,
    note: str | None,
    policy_version: str,
    erasure_mode: ErasureMode = "anonymise",
) -> str:
    """Carry out ``request`` in the caller's transaction; returns its outcome (no PII)."""
    proof = f"dsr:{request.id}"
    if request.kind in ("access", "portability"):
        size = len(archive(session, store, request=request, principal=principal))
        return f"archive of {size} bytes made available to the subject"
    if request.kind == "erasure":
        report = erase_customer(
            session,
            store,
            customer_id=request.customer_id,
            principal=principal,
            reason=f"erasure request {request.id}",
            mode=erasure_mode,
        )
        return f"erased; certificate {report.erasure_id}"
    if request.kind == "restriction":
        consent.record_restriction(
            session, customer_id=request.customer_id, channel=CHANNEL, proof_ref=proof
        )
        return "processing restricted"
    if request.kind == "objection":
        consent.record_objection(
            session, customer_id=request.customer_id, channel=CHANNEL, proof_ref=proof
        )
        return "objection to direct marketing recorded"
    if request.kind == "opt_out":
        consent.record_decision(
            session,
            customer_id=request.customer_id,
            purpose=consent.GPC_PURPOSE,
            decision="withdrawn",
            policy_version=policy_version,
            channel=CHANNEL,
            proof_ref=proof,
        )
        return "opted out of sale and sharing"
    return f"rectified: {(note or '').strip()}"


def archive(
    session: Session, store: Store, *, request: DataSubjectRequest, principal: Principal
) -> bytes:
    """The customer's export archive (zip of JSON and CSV) made by the privacy core."""
    return export_archive(
        session,
        store,
        customer_id=request.customer_id,
        principal=principal,
        reason=f"{request.kind} request {request.id}",
    )

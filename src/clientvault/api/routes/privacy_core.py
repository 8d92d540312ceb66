"""The privacy core over the API: purposes, a customer's consents and processing limits,
audience previews and CSV exports for a purpose, access exports and erasure.

Consents, limits, exports and erasure need ``privacy:manage`` (the DPO; exports also need
``pii:reveal``, checked by the reveal path); audiences need ``segments:manage`` (marketers),
and always name a purpose. The erasure certificates' public key is public, so that anyone can
verify a certificate.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import get_app_settings, get_store
from clientvault.privacy import consent, erasure, export
from clientvault.privacy.audiences import all_customers, audience_csv, preview_audience
from clientvault.privacy.purposes import PurposeInfo, create_purpose, list_purposes
from clientvault.privacy.schemas import (
    AudiencePreviewRead,
    CertificateRead,
    ConsentDecisionIn,
    CustomerPrivacyRead,
    ErasureIn,
    ErasureRead,
    ExportIn,
    ProcessingLimitIn,
    PurposeCreate,
    PurposeRead,
)
from clientvault.security import signing
from clientvault.store.context import Store

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])
ManagePrivacy = Annotated[Caller, Depends(Authorize("privacy:manage"))]
ReadCustomers = Annotated[Caller, Depends(Authorize("customers:read"))]
BuildAudiences = Annotated[Caller, Depends(Authorize("segments:manage"))]
PURPOSE_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"


@router.get("/purposes", response_model=list[PurposeRead])
def purposes(request: Request, caller: ReadCustomers) -> list[PurposeRead]:
    """Every registered processing purpose and its legal basis."""
    with get_store(request).read_sessions() as session:
        return [PurposeRead(**dataclasses.asdict(p)) for p in list_purposes(session)]


@router.post("/purposes", response_model=PurposeRead, status_code=201)
def new_purpose(body: PurposeCreate, request: Request, caller: ManagePrivacy) -> PurposeRead:
    """Register a processing purpose (never changed afterwards: decisions name it)."""
    with get_store(request).sessions.begin() as session:
        created = create_purpose(
            session, info=PurposeInfo(**body.model_dump()), principal=caller.principal
        )
    return PurposeRead(**dataclasses.asdict(created))


def _privacy_state(store: Store, customer_id: uuid.UUID) -> CustomerPrivacyRead:
    with store.read_sessions() as session:
        consent.live_customer(session, customer_id)
        states = consent.current_consents(session, customer_id=customer_id)
        limits = consent.current_limits(session, customer_id=customer_id)
    return CustomerPrivacyRead.model_validate(
        {
            "customer_id": customer_id,
            "consents": {k: dataclasses.asdict(v) for k, v in states.items()},
            "limits": {k: dataclasses.asdict(v) for k, v in limits.items()},
        }
    )


@router.get("/customers/{customer_id}/consents", response_model=CustomerPrivacyRead)
def read_consents(
    customer_id: uuid.UUID, request: Request, caller: ManagePrivacy
) -> CustomerPrivacyRead:
    """A customer's current consents per purpose, objection and restriction."""
    return _privacy_state(get_store(request), customer_id)


@router.post("/customers/{customer_id}/consents", response_model=CustomerPrivacyRead)
def record_consent(
    customer_id: uuid.UUID, body: ConsentDecisionIn, request: Request, caller: ManagePrivacy
) -> CustomerPrivacyRead:
    """Append a consent decision (a withdrawal is honoured by the next audience)."""
    store = get_store(request)
    with store.sessions.begin() as session:
        consent.record_decision(session, customer_id=customer_id, **body.model_dump())
    return _privacy_state(store, customer_id)


@router.post("/customers/{customer_id}/limits", response_model=CustomerPrivacyRead)
def record_limit(
    customer_id: uuid.UUID, body: ProcessingLimitIn, request: Request, caller: ManagePrivacy
) -> CustomerPrivacyRead:
    """Set or lift an objection to direct marketing or a restriction of processing."""
    store = get_store(request)
    values = body.model_dump(exclude={"kind"})
    record = consent.record_objection if body.kind == "objection" else consent.record_restriction
    with store.sessions.begin() as session:
        record(session, customer_id=customer_id, **values)
    return _privacy_state(store, customer_id)


PurposePath = Annotated[str, Path(pattern=PURPOSE_PATTERN)]


@router.get("/audiences/{purpose}/preview", response_model=AudiencePreviewRead)
def audience_preview(
    purpose: PurposePath,
    request: Request,
    caller: BuildAudiences,
    sample: Annotated[int, Query(ge=0, le=100)] = 20,
) -> AudiencePreviewRead:
    """How many customers may be processed for a purpose, and a few of their ids."""
    with get_store(request).read_sessions() as session:
        found = preview_audience(session, purpose=purpose, customers=all_customers(), sample=sample)
    return AudiencePreviewRead(purpose=found.purpose, size=found.size, sample=found.sample)


@router.get("/audiences/{purpose}/export.csv", response_class=PlainTextResponse)
def audience_export(
    purpose: PurposePath, request: Request, caller: BuildAudiences
) -> PlainTextResponse:
    """The audience of a purpose as CSV (customer ids and coarse attributes, no PII)."""
    with get_store(request).read_sessions() as session:
        text = audience_csv(session, purpose=purpose, customers=all_customers())
    return PlainTextResponse(
        text,
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="audience-{purpose}.csv"'},
    )


@router.get("/customers/{customer_id}/export", response_model=None, deprecated=True)
def export_customer(
    customer_id: uuid.UUID,
    request: Request,
    caller: ManagePrivacy,
    reason: Annotated[str, Query(min_length=3, max_length=200)],
    output: Annotated[Literal["json", "zip"], Query(alias="format")] = "json",
) -> dict[str, Any] | Response:
    """Deprecated (the reason lands in URL logs): POST to this path instead."""
    return _export(request, caller, customer_id, reason, output)


@router.post("/customers/{customer_id}/export", response_model=None)
def export_customer_for(
    customer_id: uuid.UUID, body: ExportIn, request: Request, caller: ManagePrivacy
) -> dict[str, Any] | Response:
    """Everything held about a customer (Art. 15/20), as JSON or as a zip with CSVs, for the
    reason in the body."""
    return _export(request, caller, customer_id, body.reason, body.format)


def _export(
    request: Request,
    caller: Caller,
    customer_id: uuid.UUID,
    reason: str,
    output: Literal["json", "zip"],
) -> dict[str, Any] | Response:
    store = get_store(request)
    with store.sessions.begin() as session:
        document = export.export_customer(
            session, store, customer_id=customer_id, principal=caller.principal, reason=reason
        )
    if output == "json":
        return document
    return Response(
        export.archive_of(document),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="export-{customer_id}.zip"'},
    )


@router.post("/customers/{customer_id}/erasure", response_model=ErasureRead)
def erase_customer(
    customer_id: uuid.UUID, body: ErasureIn, request: Request, caller: ManagePrivacy
) -> ErasureRead:
    """Erase a customer (and the profiles merged into it) everywhere; returns the signed
    certificate."""
    store = get_store(request)
    with store.sessions.begin() as session:
        report = erasure.erase_customer(
            session,
            store,
            customer_id=customer_id,
            principal=caller.principal,
            reason=body.reason,
            mode=get_app_settings(request).retention.erasure_mode,
        )
    return ErasureRead.model_validate(dataclasses.asdict(report))


@router.get("/erasures/{erasure_id}/certificate", response_model=CertificateRead)
def erasure_certificate(
    erasure_id: uuid.UUID, request: Request, caller: ManagePrivacy
) -> CertificateRead:
    """A stored erasure certificate, its signature and the key that verifies it."""
    store = get_store(request)
    with store.read_sessions() as session:
        certificate, signature = erasure.get_certificate(session, erasure_id=erasure_id)
    return CertificateRead(
        certificate=certificate, signature=signature, public_key_pem=signing.public_key_pem(store)
    )


@router.get("/erasure-certificates/public-key", response_class=PlainTextResponse)
def certificate_public_key(request: Request) -> PlainTextResponse:
    """The Ed25519 public key (PEM) that verifies erasure certificates: public by design."""
    return PlainTextResponse(signing.public_key_pem(get_store(request)), media_type="text/plain")

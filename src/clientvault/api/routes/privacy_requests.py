"""Data-subject requests, records of processing and the breach register over the API.

Everything here needs ``privacy:manage`` (the DPO and admins), except the export archive of
a request, which hands out personal data in bulk and so needs ``pii:export``. The routes are
thin: the rules (verification first, one extension, audit) are in ``privacy.requests``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import get_app_settings, get_store
from clientvault.privacy import breaches, records
from clientvault.privacy.requests import lifecycle
from clientvault.privacy.requests.models import DataSubjectRequest
from clientvault.privacy.requests.schemas import (
    BreachCreate,
    BreachRead,
    CompleteInput,
    NotifyInput,
    ReasonInput,
    RecordInput,
    RequestCreate,
    RequestRead,
)
from clientvault.settings import PrivacySettings
from clientvault.store.base import utcnow

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])
ManagePrivacy = Annotated[Caller, Depends(Authorize("privacy:manage"))]
ExportPii = Annotated[Caller, Depends(Authorize("pii:export"))]
KEY_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"


def _policy(request: Request) -> PrivacySettings:
    """The installation's privacy policy (deadlines, controller and DPO contact)."""
    return get_app_settings(request).privacy


def request_read(dsr: DataSubjectRequest, policy: PrivacySettings) -> RequestRead:
    """A request with its clock as of today."""
    return RequestRead.of(dsr, today=lifecycle.today_utc(), due_soon_days=policy.due_soon_days)


@router.post("/requests", response_model=RequestRead, status_code=201)
def create_request(body: RequestCreate, request: Request, caller: ManagePrivacy) -> RequestRead:
    """Take in a request; the customer is e-mailed a receipt and a verification link."""
    store, policy = get_store(request), _policy(request)
    with store.sessions.begin() as session:
        customer_id = lifecycle.resolve_customer(
            session, store, customer_id=body.customer_id, email=body.email
        )
        dsr = lifecycle.create_request(
            session,
            store,
            policy=policy,
            intake=lifecycle.Intake(
                customer_id=customer_id,
                kind=body.kind,
                regime=body.regime,
                channel="api",
                details={"note": body.note} if body.note else None,
            ),
            principal=caller.principal,
        )
        return request_read(dsr, policy)


@router.get("/requests", response_model=list[RequestRead])
def list_requests(
    request: Request,
    caller: ManagePrivacy,
    status: Annotated[str | None, Query(max_length=16)] = None,
    open_only: bool = False,
) -> list[RequestRead]:
    """Requests, the soonest due first."""
    policy = _policy(request)
    with get_store(request).read_sessions() as session, session.begin():
        found = lifecycle.list_requests(session, status=status, open_only=open_only)
        return [request_read(dsr, policy) for dsr in found]


@router.get("/requests/{request_id}", response_model=RequestRead)
def read_request(request_id: uuid.UUID, request: Request, caller: ManagePrivacy) -> RequestRead:
    """One request and its clock."""
    with get_store(request).read_sessions() as session, session.begin():
        return request_read(lifecycle.get_request(session, request_id), _policy(request))


def _perform(
    request: Request,
    caller: Caller,
    request_id: uuid.UUID,
    action: lifecycle.Action,
    text: str | None = None,
) -> RequestRead:
    """Run one staff step through the lifecycle's shared table and answer the request."""
    store, settings = get_store(request), get_app_settings(request)
    step = lifecycle.Step(
        action=action,
        request_id=request_id,
        principal=caller.principal,
        policy=settings.privacy,
        text=text,
        erasure_mode=settings.retention.erasure_mode,
    )
    with store.sessions.begin() as session:
        return request_read(lifecycle.perform(session, store, step), settings.privacy)


@router.post("/requests/{request_id}/verification", response_model=RequestRead)
def resend_verification(
    request_id: uuid.UUID, request: Request, caller: ManagePrivacy
) -> RequestRead:
    """E-mail the requester a new verification link."""
    return _perform(request, caller, request_id, "verification")


@router.post("/requests/{request_id}/start", response_model=RequestRead)
def start_request(request_id: uuid.UUID, request: Request, caller: ManagePrivacy) -> RequestRead:
    """Mark a verified request as in progress."""
    return _perform(request, caller, request_id, "start")


@router.post("/requests/{request_id}/extend", response_model=RequestRead)
def extend_request(
    request_id: uuid.UUID, body: ReasonInput, request: Request, caller: ManagePrivacy
) -> RequestRead:
    """Extend the deadline once, with a reason the requester is told."""
    return _perform(request, caller, request_id, "extend", body.reason)


@router.post("/requests/{request_id}/complete", response_model=RequestRead)
def complete_request(
    request_id: uuid.UUID, body: CompleteInput, request: Request, caller: ManagePrivacy
) -> RequestRead:
    """Carry out a verified request (export, erasure, restriction…) and close it."""
    return _perform(request, caller, request_id, "complete", body.note)


@router.post("/requests/{request_id}/refuse", response_model=RequestRead)
def refuse_request(
    request_id: uuid.UUID, body: ReasonInput, request: Request, caller: ManagePrivacy
) -> RequestRead:
    """Close a request without carrying it out; the requester is told why."""
    return _perform(request, caller, request_id, "refuse", body.reason)


@router.get(
    "/requests/{request_id}/archive",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def request_archive(request_id: uuid.UUID, request: Request, caller: ExportPii) -> Response:
    """The export archive (zip of JSON and CSV) of a verified access or portability request."""
    store = get_store(request)
    with store.sessions.begin() as session:
        data = lifecycle.download_archive(
            session, store, request_id=request_id, principal=caller.principal
        )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="request-{request_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/records")
def export_records(request: Request, caller: ManagePrivacy) -> dict[str, Any]:
    """The records of processing (Art. 30) as one JSON document."""
    policy = _policy(request)
    with get_store(request).read_sessions() as session, session.begin():
        return records.export_records(
            session, controller=policy.controller_name, dpo_contact=policy.dpo_contact
        )


@router.put("/records/{key}")
def put_record(
    key: Annotated[str, Path(pattern=KEY_PATTERN)],
    body: RecordInput,
    request: Request,
    caller: ManagePrivacy,
) -> dict[str, Any]:
    """Create or replace one record of processing."""
    with get_store(request).sessions.begin() as session:
        record = records.upsert_record(
            session, key=key, values=body.model_dump(), principal=caller.principal
        )
        return records.record_document(record)


@router.get("/breaches", response_model=list[BreachRead])
def list_breaches(request: Request, caller: ManagePrivacy) -> list[BreachRead]:
    """The breach register with each breach's 72-hour clock."""
    now = utcnow()
    with get_store(request).read_sessions() as session, session.begin():
        return [
            BreachRead.of(b, breaches.clock(b, now=now)) for b in breaches.list_breaches(session)
        ]


@router.post("/breaches", response_model=BreachRead, status_code=201)
def record_breach(body: BreachCreate, request: Request, caller: ManagePrivacy) -> BreachRead:
    """Record a breach; its clock starts at ``detected_at``."""
    with get_store(request).sessions.begin() as session:
        breach = breaches.register(
            session,
            report=breaches.BreachReport(
                title=body.title,
                description=body.description,
                detected_at=body.detected_at,
                risk=body.risk,
                occurred_at=body.occurred_at,
                data_categories=tuple(body.data_categories),
                approx_subjects=body.approx_subjects,
                measures=body.measures,
            ),
            principal=caller.principal,
        )
        return BreachRead.of(breach, breaches.clock(breach, now=utcnow()))


@router.post("/breaches/{breach_id}/notify", response_model=BreachRead)
def notify_authority(
    breach_id: uuid.UUID, body: NotifyInput, request: Request, caller: ManagePrivacy
) -> BreachRead:
    """Record the notification of the supervisory authority."""
    with get_store(request).sessions.begin() as session:
        breach = breaches.notify_authority(
            session,
            breach_id=breach_id,
            reference=body.reference,
            principal=caller.principal,
            at=body.at,
        )
        return BreachRead.of(breach, breaches.clock(breach, now=utcnow()))

"""Data-subject requests: intake, identity verification, legal clock, execution, alerts.

A request is received from the staff API, the console, the CLI or the preference centre,
and moves ``received -> verified -> in_progress -> completed | refused``. Nothing is shown,
exported or erased for a request whose subject has not proven who they are: a request taken
in by staff is verified only by a single-use signed link e-mailed to the address on the
customer's profile (``links``); one made in the preference centre is verified by the signed
link that opened it. The due day follows the regime (``deadlines``) and may be extended once,
with a reason, and the requester is told. Every step is audited and, when the customer must
hear of it, queues an e-mail in the same transaction (``outbox``). ``check_deadlines`` raises
"due soon" and "overdue" alerts in the access-alerts table, where the DPO already looks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.identity.models import Customer
from clientvault.identity.profiles import find_by_email
from clientvault.privacy import deadlines, links, notices
from clientvault.privacy.holders.registry import ErasureMode
from clientvault.privacy.requests import actions
from clientvault.privacy.requests.models import (
    REGIMES,
    REQUEST_KINDS,
    REQUEST_STATUSES,
    DataSubjectRequest,
)
from clientvault.security import audit
from clientvault.security.models import Alert
from clientvault.security.principal import Principal
from clientvault.settings import PrivacySettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

OPEN_STATUSES = ("received", "verified", "in_progress")
#: Who acts when the data subject does something through a signed link.
DATA_SUBJECT = Principal.system("data-subject")
#: The system job that raises deadline alerts.
DEADLINE_JOB = "dsr-deadlines"
KIND_LABELS = {
    "access": "access to personal data",
    "portability": "data portability",
    "rectification": "rectification",
    "erasure": "erasure",
    "restriction": "restriction of processing",
    "objection": "objection to processing",
    "opt_out": "opt-out of sale or sharing",
}


@dataclass(frozen=True)
class Intake:
    """A new request as any channel submits it (validated by the caller's schema)."""

    customer_id: uuid.UUID
    kind: str
    regime: str = "gdpr"
    channel: str = "api"
    details: Mapping[str, Any] | None = None


def today_utc() -> date:
    """Today's date in UTC, the calendar every deadline is counted in."""
    return utcnow().astimezone(UTC).date()


def resolve_customer(
    session: Session, store: Store, *, customer_id: uuid.UUID | None, email: str | None
) -> uuid.UUID:
    """The customer a request is about: given by id, or found by the e-mail they wrote from
    (blind index; several profiles with that e-mail need the id)."""
    if customer_id is not None:
        return customer_id
    if not email:
        raise InvalidInput("give the customer id or e-mail", details={"field": "customer_id"})
    found = find_by_email(session, store, email=email)
    if not found:
        raise NotFound("no customer has this e-mail address")
    if len(found) > 1:
        raise Conflict("several customers have this e-mail address; give the customer id")
    return found[0]


def deadline_state(request: DataSubjectRequest, *, today: date, due_soon_days: int) -> str:
    """``closed``, ``overdue``, ``due_soon`` or ``on_time``: how a request's clock stands."""
    if request.status not in OPEN_STATUSES:
        return "closed"
    left = deadlines.days_left(request.due_on, today)
    if left < 0:
        return "overdue"
    return "due_soon" if left <= due_soon_days else "on_time"


def create_request(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    intake: Intake,
    principal: Principal,
    verified_by_link: bool = False,
    notify: bool = True,
) -> DataSubjectRequest:
    """Take in a request; e-mail the receipt (and, unless ``verified_by_link``, a single-use
    verification link) to the address on the customer's profile.

    ``verified_by_link`` is for the preference centre only, whose signed link already proves
    the subject. A customer without an e-mail on file cannot be verified by link: the
    request is recorded (the clock runs) and the DPO must answer it by other means.
    ``notify=False`` (a download answered at once) sends no receipt.
    """
    if intake.kind not in REQUEST_KINDS:
        raise InvalidInput("unknown kind of request", details={"field": "kind"})
    if intake.regime not in REGIMES:
        raise InvalidInput("unknown regime", details={"field": "regime"})
    customer = session.get(Customer, intake.customer_id)
    if customer is None or customer.status == "erased":
        raise NotFound("no such customer")
    now = utcnow()
    due = deadlines.due_on(intake.regime, now.astimezone(UTC).date())
    request = DataSubjectRequest(
        customer_id=intake.customer_id,
        kind=intake.kind,
        regime=intake.regime,
        status="verified" if verified_by_link else "received",
        channel=intake.channel,
        received_at=now,
        original_due_on=due,
        due_on=due,
        verified_at=now if verified_by_link else None,
        verification_method="preference_link" if verified_by_link else None,
        details=dict(intake.details or {}),
        created_by=principal.id[:64],
    )
    session.add(request)
    session.flush()
    _audit(session, principal, "dsr.received", request, channel=intake.channel)
    if verified_by_link:
        _audit(session, DATA_SUBJECT, "dsr.verified", request, method="preference_link")
    if customer.email_sealed is None or not notify:
        return request
    text = (
        f"We received your request for {KIND_LABELS[request.kind]} on "
        f"{request.received_at:%d %B %Y}. We will answer by {request.due_on:%d %B %Y}."
    )
    if not verified_by_link:
        text += "\n\n" + _verification_text(session, store, policy, request)
    notices.enqueue(
        session,
        store,
        policy=policy,
        customer_id=request.customer_id,
        template="dsr_received",
        subject="We received your privacy request",
        text=text,
    )
    return request


def resend_verification(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    request_id: uuid.UUID,
    principal: Principal,
) -> DataSubjectRequest:
    """E-mail a new single-use verification link (the first expired, say); earlier links
    stay single-use and expire on their own."""
    request = get_request(session, request_id)
    if request.status != "received":
        raise Conflict("this request does not wait for verification")
    customer = session.get(Customer, request.customer_id)
    if customer is None or customer.email_sealed is None:
        raise Conflict("the customer has no e-mail address to send a link to")
    notices.enqueue(
        session,
        store,
        policy=policy,
        customer_id=request.customer_id,
        template="dsr_verify",
        subject="Please confirm your privacy request",
        text=_verification_text(session, store, policy, request),
    )
    _audit(session, principal, "dsr.verification_sent", request)
    return request


def _verification_text(
    session: Session, store: Store, policy: PrivacySettings, request: DataSubjectRequest
) -> str:
    token = links.issue(
        session,
        key=links.link_key(store, policy),
        purpose="dsr_verify",
        customer_id=request.customer_id,
        request_id=request.id,
        lifetime=timedelta(hours=policy.verification_link_hours),
    )
    url = notices.link_url(policy, notices.VERIFY_PATH, token)
    return (
        "To confirm that this request comes from you, open this link (it works once, "
        f"within {policy.verification_link_hours} hours):\n{url}\n\n"
        "If you did not make this request, ignore this message: nothing will be done."
    )


def pending_verification(
    session: Session, store: Store, *, policy: PrivacySettings, token: str
) -> DataSubjectRequest:
    """The request a verification link is for, without using the link (the confirmation
    page shows it; mail scanners that open links must not verify anything)."""
    grant = links.check(
        session, key=links.link_key(store, policy), purpose="dsr_verify", token=token
    )
    return _granted_request(session, grant)


def verify_request(
    session: Session, store: Store, *, policy: PrivacySettings, token: str
) -> DataSubjectRequest:
    """Confirm the subject's identity with a verification link, which is used up."""
    grant = links.consume(
        session, key=links.link_key(store, policy), purpose="dsr_verify", token=token
    )
    request = _granted_request(session, grant)
    request.status = "verified"
    request.verified_at = utcnow()
    request.verification_method = "email_link"
    _audit(session, DATA_SUBJECT, "dsr.verified", request, method="email_link")
    return request


def _granted_request(session: Session, grant: links.LinkGrant) -> DataSubjectRequest:
    request = session.get(DataSubjectRequest, grant.request_id) if grant.request_id else None
    if request is None or request.customer_id != grant.customer_id:
        raise NotFound("no such request")
    if request.status != "received":
        raise Conflict("this request was confirmed already")
    return request


def start(session: Session, *, request_id: uuid.UUID, principal: Principal) -> DataSubjectRequest:
    """Mark a verified request as being worked on."""
    request = _verified(session, request_id)
    if request.status == "verified":
        request.status = "in_progress"
        request.started_at = utcnow()
        _audit(session, principal, "dsr.started", request)
    return request


def extend(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    request_id: uuid.UUID,
    principal: Principal,
    reason: str,
) -> DataSubjectRequest:
    """Extend an open request's deadline once, for a recorded reason, and tell the requester
    (GDPR Art. 12(3) wants them told, with the reasons, within the first month)."""
    request = get_request(session, request_id)
    if request.status not in OPEN_STATUSES:
        raise Conflict("this request is closed")
    if request.extended_at is not None:
        raise Conflict("a request may be extended only once")
    if not reason.strip():
        raise InvalidInput("an extension needs a reason", details={"field": "reason"})
    if deadlines.days_left(request.due_on, today_utc()) < 0:
        raise Conflict("the deadline has passed already; it cannot be extended any more")
    request.due_on = deadlines.extended_due_on(request.regime, request.original_due_on)
    request.extended_at = utcnow()
    request.extension_reason = reason.strip()
    _audit(session, principal, "dsr.extended", request, due_on=request.due_on.isoformat())
    _tell(
        session,
        store,
        policy,
        request,
        template="dsr_extended",
        subject="Your privacy request needs more time",
        text=(
            f"We need more time to answer your request for {KIND_LABELS[request.kind]}: "
            f"we will answer by {request.due_on:%d %B %Y}.\nWhy: {request.extension_reason}"
        ),
    )
    return request


def complete(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    request_id: uuid.UUID,
    principal: Principal,
    note: str | None = None,
    erasure_mode: ErasureMode = "anonymise",
) -> DataSubjectRequest:
    """Carry out a verified request and close it.

    ``erasure_mode`` is the installation's (``retention.erasure_mode``): what an erasure does
    with events and orders.

    Access and portability: the customer is sent a preference-centre link to download their
    archive (``download_archive``). Erasure: the privacy core erases the customer (its
    certificate id is kept as the outcome); no e-mail can follow, the address is gone.
    Restriction, objection, opt-out: recorded through the consent service. Rectification is
    done by staff on the profile; closing it needs a note saying what was changed.
    """
    request = _verified(session, request_id)
    if request.kind == "rectification" and not (note and note.strip()):
        raise InvalidInput("say what was rectified", details={"field": "note"})
    outcome = actions.execute(
        session,
        store,
        request=request,
        principal=principal,
        note=note,
        policy_version=policy.policy_version,
        erasure_mode=erasure_mode,
    )
    mark_completed(session, request, outcome=outcome, principal=principal)
    if request.kind != "erasure":
        _tell(
            session,
            store,
            policy,
            request,
            template="dsr_completed",
            subject="Your privacy request is complete",
            text=_completion_text(request),
        )
    return request


def mark_completed(
    session: Session, request: DataSubjectRequest, *, outcome: str, principal: Principal
) -> None:
    """Close a request that was carried out (audited); ``outcome`` holds no personal data."""
    request.status = "completed"
    request.closed_at = utcnow()
    request.started_at = request.started_at or request.closed_at
    request.outcome = outcome[:500]
    _audit(session, principal, "dsr.completed", request)


def _completion_text(request: DataSubjectRequest) -> str:
    if request.kind in ("access", "portability"):
        return (
            f"Your request for {KIND_LABELS[request.kind]} is complete. Download your data "
            "(JSON and CSV files in a zip archive) from your preference centre below."
        )
    return f"Your request for {KIND_LABELS[request.kind]} is complete."


def refuse(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    request_id: uuid.UUID,
    principal: Principal,
    reason: str,
) -> DataSubjectRequest:
    """Close an open request without carrying it out, telling the requester why."""
    request = get_request(session, request_id)
    if request.status not in OPEN_STATUSES:
        raise Conflict("this request is closed")
    if not reason.strip():
        raise InvalidInput("a refusal needs a reason", details={"field": "reason"})
    request.status = "refused"
    request.closed_at = utcnow()
    request.outcome = f"refused: {reason.strip()}"[:500]
    _audit(session, principal, "dsr.refused", request)
    _tell(
        session,
        store,
        policy,
        request,
        template="dsr_refused",
        subject="About your privacy request",
        text=(
            f"We cannot carry out your request for {KIND_LABELS[request.kind]}.\n"
            f"Why: {reason.strip()}\nYou may complain to your data protection authority."
        ),
    )
    return request


#: The staff's steps on a request, by name: what the API, the console and the CLI offer.
Action = Literal["start", "verification", "extend", "complete", "refuse"]


@dataclass(frozen=True)
class Step:
    """One staff step on a request, as any face submits it."""

    action: Action
    request_id: uuid.UUID
    principal: Principal
    policy: PrivacySettings
    #: The reason (extend, refuse) or the note (complete); ignored by the other steps.
    text: str | None = None
    erasure_mode: ErasureMode = "anonymise"


def _start_step(session: Session, _store: Store, step: Step) -> DataSubjectRequest:
    return start(session, request_id=step.request_id, principal=step.principal)


def _verification_step(session: Session, store: Store, step: Step) -> DataSubjectRequest:
    return resend_verification(
        session, store, policy=step.policy, request_id=step.request_id, principal=step.principal
    )


def _extend_step(session: Session, store: Store, step: Step) -> DataSubjectRequest:
    return extend(
        session,
        store,
        policy=step.policy,
        request_id=step.request_id,
        principal=step.principal,
        reason=step.text or "",
    )


def _complete_step(session: Session, store: Store, step: Step) -> DataSubjectRequest:
    return complete(
        session,
        store,
        policy=step.policy,
        request_id=step.request_id,
        principal=step.principal,
        note=step.text,
        erasure_mode=step.erasure_mode,
    )


def _refuse_step(session: Session, store: Store, step: Step) -> DataSubjectRequest:
    return refuse(
        session,
        store,
        policy=step.policy,
        request_id=step.request_id,
        principal=step.principal,
        reason=step.text or "",
    )


#: What each staff step runs; the rules (verified first, one extension…) are in the functions.
TRANSITIONS: Mapping[Action, Callable[[Session, Store, Step], DataSubjectRequest]] = {
    "start": _start_step,
    "verification": _verification_step,
    "extend": _extend_step,
    "complete": _complete_step,
    "refuse": _refuse_step,
}


def perform(session: Session, store: Store, step: Step) -> DataSubjectRequest:
    """Run one staff step on a request, in the caller's transaction: the one entry the API,
    the console and the CLI share, so a step behaves the same whichever face asked."""
    return TRANSITIONS[step.action](session, store, step)


def download_archive(
    session: Session,
    store: Store,
    *,
    request_id: uuid.UUID,
    principal: Principal,
) -> bytes:
    """The export archive of a verified access or portability request (audited export)."""
    request = _verified(session, request_id, allow_completed=True)
    if request.kind not in ("access", "portability"):
        raise Conflict("only access and portability requests have an archive")
    return actions.archive(session, store, request=request, principal=principal)


def get_request(session: Session, request_id: uuid.UUID) -> DataSubjectRequest:
    """One request, or ``NotFound``."""
    request = session.get(DataSubjectRequest, request_id)
    if request is None:
        raise NotFound("no such request")
    return request


def list_requests(
    session: Session,
    *,
    status: str | None = None,
    customer_id: uuid.UUID | None = None,
    open_only: bool = False,
    limit: int = 200,
) -> list[DataSubjectRequest]:
    """Requests, the soonest due first (open ones before closed ones)."""
    if status is not None and status not in REQUEST_STATUSES:
        raise InvalidInput("unknown status", details={"field": "status"})
    query = select(DataSubjectRequest).limit(limit)
    if status is not None:
        query = query.where(DataSubjectRequest.status == status)
    if open_only:
        query = query.where(DataSubjectRequest.status.in_(OPEN_STATUSES))
    if customer_id is not None:
        query = query.where(DataSubjectRequest.customer_id == customer_id)
    closed_last = DataSubjectRequest.status.in_(("completed", "refused"))
    return list(
        session.scalars(
            query.order_by(closed_last, DataSubjectRequest.due_on, DataSubjectRequest.received_at)
        )
    )


def check_deadlines(session: Session, *, today: date, due_soon_days: int) -> int:
    """Raise an alert for each open request that became due soon or overdue; returns how
    many alerts were new. Each (request, state) pair alerts once (``dedup_key``)."""
    horizon = today + timedelta(days=due_soon_days)
    candidates = session.scalars(
        select(DataSubjectRequest).where(
            DataSubjectRequest.status.in_(OPEN_STATUSES), DataSubjectRequest.due_on <= horizon
        )
    ).all()
    raised = 0
    for request in candidates:
        state = deadline_state(request, today=today, due_soon_days=due_soon_days)
        # An extension gives a new deadline, hence a new alert when that one comes near.
        key = f"dsr:{request.id}:{request.due_on.isoformat()}:{state}"
        exists = session.scalar(select(func.count()).where(Alert.dedup_key == key))
        if exists:
            continue
        when = datetime(today.year, today.month, today.day, tzinfo=UTC)
        left = deadlines.days_left(request.due_on, today)
        session.add(
            Alert(
                dedup_key=key,
                kind=f"dsr_{state}",
                severity="high" if state == "overdue" else "medium",
                subject=f"dsr:{request.id}",
                actor_kind="system",
                actor_id=DEADLINE_JOB,
                window_start=when,
                window_end=when,
                summary=(
                    f"{request.regime.upper()} {request.kind} request "
                    + (f"overdue by {-left} day(s)" if left < 0 else f"due in {left} day(s)")
                    + f" (due {request.due_on.isoformat()})"
                ),
                evidence={
                    "request_id": str(request.id),
                    "due_on": request.due_on.isoformat(),
                    "status": request.status,
                    "extended": request.extended_at is not None,
                },
            )
        )
        raised += 1
    session.flush()
    return raised


def _verified(
    session: Session, request_id: uuid.UUID, *, allow_completed: bool = False
) -> DataSubjectRequest:
    """A request whose subject proved who they are, still open (or completed, if allowed)."""
    request = get_request(session, request_id)
    if request.status == "received":
        raise Conflict("the requester's identity is not verified yet")
    allowed = (
        ("verified", "in_progress", "completed") if allow_completed else ("verified", "in_progress")
    )
    if request.status not in allowed:
        raise Conflict("this request is closed")
    return request


def _tell(
    session: Session,
    store: Store,
    policy: PrivacySettings,
    request: DataSubjectRequest,
    *,
    template: str,
    subject: str,
    text: str,
) -> None:
    customer = session.get(Customer, request.customer_id)
    if customer is not None and customer.email_sealed is not None:
        notices.enqueue(
            session,
            store,
            policy=policy,
            customer_id=request.customer_id,
            template=template,
            subject=subject,
            text=text,
        )


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    request: DataSubjectRequest,
    **details: Any,
) -> None:
    audit.record(
        session,
        principal=principal,
        action=action,
        target_type="dsr",
        target_ids=[str(request.id)],
        details={"kind": request.kind, "regime": request.regime, **details},
    )

"""The DPO's console pages (``/console/privacy/...``): data-subject requests and their
deadlines, consent statistics, records of processing, and the breach register.

Every page and form needs ``privacy:manage``; forms are CSRF-checked by ``Authorize``. The
rules live in the privacy services: a request whose requester is not verified cannot be
carried out from here any more than from the API.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import StoreDep
from clientvault.privacy import breaches, consent_stats, records
from clientvault.privacy.requests import lifecycle
from clientvault.privacy.requests.models import REQUEST_KINDS
from clientvault.settings import PrivacySettings
from clientvault.store.base import utcnow
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

PRIVACY = f"{CONSOLE_PREFIX}/privacy"
router = APIRouter(prefix=PRIVACY, include_in_schema=False)
ManagePrivacy = Annotated[Caller, Depends(Authorize("privacy:manage"))]
DEADLINE_BADGES = {
    "overdue": "badge-danger",
    "due_soon": "badge-warn",
    "on_time": "badge-ok",
    "closed": "badge-off",
}
NOTICES = {
    "created": "The request was recorded; the requester was sent a verification link.",
    "start": "The request is in progress.",
    "extend": "The deadline was extended and the requester told why.",
    "complete": "The request was carried out and closed.",
    "refuse": "The request was refused and the requester told why.",
    "verification": "A new verification link was sent.",
    "breach": "The breach was recorded; its 72-hour clock is running.",
    "notified": "The notification of the authority was recorded.",
}


def _policy(request: Request) -> PrivacySettings:
    policy: PrivacySettings = request.app.state.settings.privacy
    return policy


def _csrf(caller: Caller) -> str:
    return caller.staff_session.csrf_token if caller.staff_session else ""


def _notice(done: str | None) -> str | None:
    return NOTICES.get(done or "")


@router.get("", response_class=HTMLResponse, name="console_privacy")
def dashboard(request: Request, caller: ManagePrivacy, store: StoreDep) -> Response:
    """The DPO's dashboard: requests by deadline state, breach clocks, consent totals."""
    policy, now = _policy(request), utcnow()
    today = lifecycle.today_utc()
    with store.read_sessions() as session, session.begin():
        states = Counter(
            lifecycle.deadline_state(r, today=today, due_soon_days=policy.due_soon_days)
            for r in lifecycle.list_requests(session, open_only=True, limit=10_000)
        )
        unverified = len(lifecycle.list_requests(session, status="received", limit=10_000))
        clocks = Counter(breaches.clock(b, now=now).state for b in breaches.list_breaches(session))
        stats = consent_stats.consent_stats(session)
    return render(
        request,
        "privacy/dashboard.html",
        {
            "title": "Privacy",
            "states": states,
            "open_requests": sum(states.values()),
            "unverified": unverified,
            "clocks": clocks,
            "granted": sum(s.granted for s in stats),
            "withdrawn": sum(s.withdrawn for s in stats),
            "due_soon_days": policy.due_soon_days,
        },
    )


@router.get("/requests", response_class=HTMLResponse, name="console_privacy_requests")
def requests_page(
    request: Request,
    caller: ManagePrivacy,
    store: StoreDep,
    show: Literal["open", "all"] = "open",
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Requests, soonest due first, overdue and due-soon ones highlighted; a form to record
    a new one."""
    policy = _policy(request)
    today = lifecycle.today_utc()
    with store.read_sessions() as session, session.begin():
        found = lifecycle.list_requests(session, open_only=show == "open")
        rows = [
            (r, lifecycle.deadline_state(r, today=today, due_soon_days=policy.due_soon_days))
            for r in found
        ]
    return render(
        request,
        "privacy/requests.html",
        {
            "title": "Data-subject requests",
            "rows": rows,
            "today": today,
            "show": show,
            "kinds": REQUEST_KINDS,
            "kind_labels": lifecycle.KIND_LABELS,
            "badges": DEADLINE_BADGES,
            "notice": _notice(done),
            "csrf_token": _csrf(caller),
        },
    )


@router.post("/requests", name="console_privacy_request_create")
def create_request(
    request: Request,
    caller: ManagePrivacy,
    store: StoreDep,
    email: Annotated[str, Form(min_length=3, max_length=254)],
    kind: Annotated[str, Form(max_length=16)],
    regime: Annotated[Literal["gdpr", "ccpa"], Form()] = "gdpr",
) -> RedirectResponse:
    """Record a request received by e-mail or letter; the requester must then verify it."""
    with store.sessions.begin() as session:
        customer_id = lifecycle.resolve_customer(session, store, customer_id=None, email=email)
        created = lifecycle.create_request(
            session,
            store,
            policy=_policy(request),
            intake=lifecycle.Intake(
                customer_id=customer_id, kind=kind, regime=regime, channel="console"
            ),
            principal=caller.principal,
        )
    return RedirectResponse(f"{PRIVACY}/requests/{created.id}?done=created", status_code=303)


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request_id: uuid.UUID,
    request: Request,
    caller: ManagePrivacy,
    store: StoreDep,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """One request: its clock, its history and what can be done next."""
    policy = _policy(request)
    with store.read_sessions() as session, session.begin():
        dsr = lifecycle.get_request(session, request_id)
        state = lifecycle.deadline_state(
            dsr, today=lifecycle.today_utc(), due_soon_days=policy.due_soon_days
        )
    return render(
        request,
        "privacy/request.html",
        {
            "title": "Data-subject request",
            "r": dsr,
            "state": state,
            "kind_label": lifecycle.KIND_LABELS[dsr.kind],
            "badges": DEADLINE_BADGES,
            "notice": _notice(done),
            "csrf_token": _csrf(caller),
        },
    )


@router.post("/requests/{request_id}/{action}", name="console_privacy_request_action")
def request_action(
    request_id: uuid.UUID,
    action: lifecycle.Action,
    request: Request,
    caller: ManagePrivacy,
    store: StoreDep,
    reason: Annotated[str | None, Form(max_length=500)] = None,
) -> RedirectResponse:
    """Start, extend, complete or refuse a request, or send a new verification link."""
    step = lifecycle.Step(
        action=action,
        request_id=request_id,
        principal=caller.principal,
        policy=_policy(request),
        text=reason,
        erasure_mode=request.app.state.settings.retention.erasure_mode,
    )
    with store.sessions.begin() as session:
        lifecycle.perform(session, store, step)
    return RedirectResponse(f"{PRIVACY}/requests/{request_id}?done={action}", status_code=303)


@router.get("/consents", response_class=HTMLResponse, name="console_privacy_consents")
def consents_page(request: Request, caller: ManagePrivacy, store: StoreDep) -> Response:
    """Current consent decisions per purpose."""
    with store.read_sessions() as session, session.begin():
        stats = consent_stats.consent_stats(session)
    return render(request, "privacy/consents.html", {"title": "Consents", "stats": stats})


@router.get("/records", response_class=HTMLResponse, name="console_privacy_records")
def records_page(request: Request, caller: ManagePrivacy, store: StoreDep) -> Response:
    """The records of processing, with their JSON export and the public notice."""
    with store.read_sessions() as session, session.begin():
        found = records.list_records(session)
    return render(
        request, "privacy/records.html", {"title": "Records of processing", "records": found}
    )


@router.get("/breaches", response_class=HTMLResponse, name="console_privacy_breaches")
def breaches_page(
    request: Request,
    caller: ManagePrivacy,
    store: StoreDep,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The breach register, each breach with its 72-hour clock."""
    now = utcnow()
    with store.read_sessions() as session, session.begin():
        rows = [(b, breaches.clock(b, now=now)) for b in breaches.list_breaches(session)]
    return render(
        request,
        "privacy/breaches.html",
        {
            "title": "Breaches",
            "rows": rows,
            "now": now,
            "notice": _notice(done),
            "csrf_token": _csrf(caller),
        },
    )


@router.post("/breaches", name="console_privacy_breach_create")
def record_breach(
    caller: ManagePrivacy,
    store: StoreDep,
    title: Annotated[str, Form(min_length=3, max_length=200)],
    description: Annotated[str, Form(min_length=3, max_length=5000)],
    detected_at: Annotated[datetime, Form()],
    risk: Annotated[Literal["unlikely", "risk", "high"], Form()],
    measures: Annotated[str | None, Form(max_length=5000)] = None,
) -> RedirectResponse:
    """Record a breach (times entered in UTC)."""
    detected = detected_at if detected_at.tzinfo else detected_at.replace(tzinfo=UTC)
    with store.sessions.begin() as session:
        breaches.register(
            session,
            report=breaches.BreachReport(
                title=title,
                description=description,
                detected_at=detected,
                risk=risk,
                measures=measures or None,
            ),
            principal=caller.principal,
        )
    return RedirectResponse(f"{PRIVACY}/breaches?done=breach", status_code=303)


@router.post("/breaches/{breach_id}/notify", name="console_privacy_breach_notify")
def notify_authority(
    breach_id: uuid.UUID,
    caller: ManagePrivacy,
    store: StoreDep,
    reference: Annotated[str, Form(min_length=1, max_length=100)],
) -> RedirectResponse:
    """Record that the supervisory authority was notified now."""
    with store.sessions.begin() as session:
        breaches.notify_authority(
            session, breach_id=breach_id, reference=reference, principal=caller.principal
        )
    return RedirectResponse(f"{PRIVACY}/breaches?done=notified", status_code=303)

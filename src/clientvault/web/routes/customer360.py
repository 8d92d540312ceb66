"""The customer 360° page (``/console/customers/{id}``, ``customers:read``) and its actions.

The page shows a person's golden record, profiles, identifiers by kind, consents, timeline,
orders, groups and merge history (``customers.view360``). Identifiers are masked unless the
viewer opened a *reveal window* (``security.reveal_window``): the reason is POSTed once to
``/console/reveal`` (never put in a URL, which browser history and server logs keep) and holds
for this browser session for a few minutes, on this page and in the identity review queue.

Actions, each a POST form with the session's CSRF token and each through the same service
the API uses:

- export (``privacy:manage`` and ``pii:reveal``): the person's data as a zip download;
- erase (``privacy:manage``): a confirmation page first, then the erasure and its signed
  certificate (``/console/erasures/{id}``);
- record or withdraw a consent decision on the customer's behalf, with the channel it reached
  us through and a reference to its proof (``privacy:manage``; audited);
- open a data-subject request for the customer (``privacy:manage``).

Below the person's own data, what the other domains know of them, each through that domain's
read function and none of it personal in clear (an analyst without ``pii:reveal`` sees it
too): the segments they are in now (``segments.service.customer_segments``), their scores
(``customers.scores``: RFM group, persona, lifetime value, propensity and churn, each with its
model version and date), their support tickets (status and CSAT; the subject stays sealed)
and the products recommended to them (``predict.personal``, only with their consent to
personalisation).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clientvault.customers.view360 import customer_360
from clientvault.errors import InvalidInput
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.privacy import consent, erasure, export
from clientvault.privacy.purposes import list_purposes
from clientvault.privacy.requests import lifecycle
from clientvault.privacy.requests.models import REGIMES, REQUEST_KINDS
from clientvault.security import reveal_window, signing
from clientvault.security.models import StaffSession
from clientvault.security.principal import PII_REVEAL
from clientvault.web.customer_panels import domain_panels
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
ReadCustomers = Annotated[Caller, Depends(Authorize("customers:read"))]
ManagePrivacy = Annotated[Caller, Depends(Authorize("privacy:manage"))]
Reveal = Annotated[Caller, Depends(Authorize(PII_REVEAL))]
ReasonField = Annotated[str, Form(min_length=3, max_length=200)]
PRIVACY_MANAGE = "privacy:manage"
#: How a consent decision made on the customer's behalf reached us.
CONSENT_CHANNELS = ("phone", "email", "letter", "in_person", "support_ticket")
#: The word typed to confirm an erasure.
ERASE_WORD = "ERASE"

NOTICES = {
    "merged": "The two profiles were merged.",
    "unmerged": "The merge was undone: both profiles are back as they were.",
    "consent": "The consent decision was recorded.",
}
PROBLEMS = {
    "conflict": "That was already decided, or the profiles changed since: nothing was done.",
    "not_found": "That candidate, merge or profile no longer exists.",
    "invalid_input": "The decision was refused: check the profiles and the reason.",
}


def customer_path(customer_id: uuid.UUID) -> str:
    """The 360° page of a customer."""
    return f"{CONSOLE_PREFIX}/customers/{customer_id}"


def _csrf(caller: Caller) -> str:
    return caller.staff_session.csrf_token if caller.staff_session else ""


def _local_console_path(back: str) -> str:
    """``back`` if it is a path of the console (no scheme, host or ``//``), else the console."""
    if back.startswith(f"{CONSOLE_PREFIX}/") and not back.startswith("//") and "\\" not in back:
        return back
    return CONSOLE_PREFIX


def _session_of(session: Session, caller: Caller) -> StaffSession | None:
    """The caller's browser session, in ``session`` (``None`` for an API token, which has
    no reveal window: the API takes a reason with each reveal)."""
    if caller.staff_session is None:
        return None
    return reveal_window.session_row(session, caller.staff_session.token_hash)


@router.get("/customers/{customer_id}", response_class=HTMLResponse, name="console_customer")
def customer_page(
    customer_id: uuid.UUID,
    request: Request,
    caller: ReadCustomers,
    store: StoreDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
    problem: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A person's 360° view; identifiers revealed while the viewer's reveal window is open."""
    principal = caller.principal
    reason = reveal_window.current_reason(caller.staff_session, principal)
    with store.sessions.begin() as session:
        view = customer_360(
            session,
            store,
            customer_id=customer_id,
            viewer=principal,
            reason=reason,
            settings=settings.identity,
        )
        panels = domain_panels(session, view)
        purposes = list_purposes(session) if principal.can(PRIVACY_MANAGE) else []
        window_until = (
            caller.staff_session.reveal_until if reason and caller.staff_session else None
        )
    return render(
        request,
        "identity/customer.html",
        {
            "title": "Customer",
            "view": view,
            "panels": panels,
            "asked_for": customer_id,
            "reason": reason,
            "window_until": window_until,
            "may_reveal": principal.can(PII_REVEAL),
            "may_review": principal.can("identity:review"),
            "may_support": principal.can("support:handle"),
            "may_manage": principal.can(PRIVACY_MANAGE),
            "may_export": principal.can(PRIVACY_MANAGE) and principal.can(PII_REVEAL),
            "purposes": purposes,
            "channels": CONSENT_CHANNELS,
            "kinds": {kind: lifecycle.KIND_LABELS[kind] for kind in REQUEST_KINDS},
            "regimes": REGIMES,
            "notice": NOTICES.get(done or ""),
            "problem": PROBLEMS.get(problem or ""),
            "csrf_token": _csrf(caller),
        },
    )


@router.post("/reveal", name="console_reveal_open")
def open_reveal(
    caller: Reveal,
    store: StoreDep,
    settings: SettingsDep,
    reason: ReasonField,
    back: Annotated[str, Form(max_length=500)] = CONSOLE_PREFIX,
) -> RedirectResponse:
    """Open this session's reveal window with the reason in the form; back to the page."""
    with store.sessions.begin() as session:
        staff_session = _session_of(session, caller)
        if staff_session is None:
            raise InvalidInput("a reveal window belongs to a signed-in browser session")
        reveal_window.open_window(
            session,
            staff_session=staff_session,
            principal=caller.principal,
            reason=reason,
            policy=settings.security,
        )
    return RedirectResponse(_local_console_path(back), status_code=303)


@router.post("/reveal/close", name="console_reveal_close")
def close_reveal(
    caller: ReadCustomers,
    store: StoreDep,
    back: Annotated[str, Form(max_length=500)] = CONSOLE_PREFIX,
) -> RedirectResponse:
    """Hide personal data again before the window runs out."""
    with store.sessions.begin() as session:
        staff_session = _session_of(session, caller)
        if staff_session is not None:
            reveal_window.close_window(
                session, staff_session=staff_session, principal=caller.principal
            )
    return RedirectResponse(_local_console_path(back), status_code=303)


@router.post("/customers/{customer_id}/export", name="console_customer_export")
def export_customer(
    customer_id: uuid.UUID, caller: ManagePrivacy, store: StoreDep, reason: ReasonField
) -> Response:
    """Everything held about the person, as a zip (JSON, a CSV per holder, the schema)."""
    with store.sessions.begin() as session:
        data = export.export_archive(
            session, store, customer_id=customer_id, principal=caller.principal, reason=reason
        )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="export-{customer_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/customers/{customer_id}/erase", response_class=HTMLResponse)
def erase_page(
    customer_id: uuid.UUID, request: Request, caller: ManagePrivacy, store: StoreDep
) -> Response:
    """The confirmation step: what an erasure does, a reason and the word to type."""
    with store.read_sessions() as session, session.begin():
        consent.live_customer(session, customer_id)
    return _erase_form(request, caller, customer_id, problem=None)


def _erase_form(
    request: Request, caller: Caller, customer_id: uuid.UUID, *, problem: str | None
) -> Response:
    return render(
        request,
        "identity/erase.html",
        {
            "title": "Erase customer",
            "customer_id": customer_id,
            "word": ERASE_WORD,
            "problem": problem,
            "csrf_token": _csrf(caller),
        },
        status_code=422 if problem else 200,
    )


@router.post("/customers/{customer_id}/erase", name="console_customer_erase")
def erase_customer(
    customer_id: uuid.UUID,
    request: Request,
    caller: ManagePrivacy,
    store: StoreDep,
    settings: SettingsDep,
    reason: ReasonField,
    confirm: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Erase the person everywhere (every merged profile too), then show the certificate."""
    if confirm.strip() != ERASE_WORD:
        return _erase_form(
            request, caller, customer_id, problem=f"type {ERASE_WORD} to confirm the erasure"
        )
    with store.sessions.begin() as session:
        report = erasure.erase_customer(
            session,
            store,
            customer_id=customer_id,
            principal=caller.principal,
            reason=reason,
            mode=settings.retention.erasure_mode,
        )
    return RedirectResponse(f"{CONSOLE_PREFIX}/erasures/{report.erasure_id}", status_code=303)


@router.get("/erasures/{erasure_id}", response_class=HTMLResponse, name="console_erasure")
def erasure_certificate(
    erasure_id: uuid.UUID, request: Request, caller: ManagePrivacy, store: StoreDep
) -> Response:
    """An erasure's signed certificate, the signature and the key that verifies it."""
    with store.read_sessions() as session, session.begin():
        certificate, signature = erasure.get_certificate(session, erasure_id=erasure_id)
    return render(
        request,
        "identity/erasure.html",
        {
            "title": "Erasure certificate",
            "erasure_id": erasure_id,
            "certificate": certificate,
            "signature": signature,
            "public_key": signing.public_key_pem(store),
        },
    )


@router.post("/customers/{customer_id}/consents", name="console_customer_consent")
def record_consent(
    customer_id: uuid.UUID,
    caller: ManagePrivacy,
    store: StoreDep,
    settings: SettingsDep,
    purpose: Annotated[str, Form(min_length=1, max_length=64)],
    decision: Annotated[Literal["granted", "withdrawn"], Form()],
    channel: Annotated[str, Form(max_length=32)],
    proof_ref: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    """Record (or withdraw) a consent the customer gave through another channel; audited
    with who recorded it, since the customer did not click it themselves."""
    if channel not in CONSENT_CHANNELS:
        raise InvalidInput("unknown channel", details={"field": "channel"})
    with store.sessions.begin() as session:
        consent.record_on_behalf(
            session,
            by=caller.principal,
            customer_id=customer_id,
            purpose=purpose,
            decision=decision,
            policy_version=settings.privacy.policy_version,
            channel=channel,
            proof_ref=proof_ref.strip() or None,
        )
    return RedirectResponse(f"{customer_path(customer_id)}?done=consent", status_code=303)


@router.post("/customers/{customer_id}/requests", name="console_customer_request")
def open_request(
    customer_id: uuid.UUID,
    caller: ManagePrivacy,
    store: StoreDep,
    settings: SettingsDep,
    kind: Annotated[str, Form(max_length=16)],
    regime: Annotated[str, Form(max_length=8)] = "gdpr",
) -> RedirectResponse:
    """Open a data-subject request for this customer; the request's page follows."""
    with store.sessions.begin() as session:
        created = lifecycle.create_request(
            session,
            store,
            policy=settings.privacy,
            intake=lifecycle.Intake(
                customer_id=customer_id, kind=kind, regime=regime, channel="console"
            ),
            principal=caller.principal,
        )
    return RedirectResponse(
        f"{CONSOLE_PREFIX}/privacy/requests/{created.id}?done=created", status_code=303
    )

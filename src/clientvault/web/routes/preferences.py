"""The preference centre (``/preferences``) and the public privacy notice (``/privacy-notice``).

No staff sign-in here: the data subject is identified by the signed link they were e-mailed
(``privacy.links``), carried in the query string and in every form, which also makes the
forms immune to cross-site forgery (a forger does not know the token). Any problem with a
link gets the same page, whatever was wrong. The one-click unsubscribe answers the POST that
mail clients send (RFC 8058, ``List-Unsubscribe=One-Click``); a GET of the same address only
shows a button, so link scanners unsubscribe nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clientvault.errors import (
    ClientVaultError,
    Conflict,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from clientvault.http.deps import StoreDep
from clientvault.privacy import links, preferences, records
from clientvault.privacy.requests import lifecycle
from clientvault.privacy.requests.models import DataSubjectRequest
from clientvault.settings import PrivacySettings
from clientvault.store.context import Store
from clientvault.web.templating import render

router = APIRouter(include_in_schema=False)
PREFERENCES = "/preferences"
#: A link's token. Optional and unbounded here on purpose: a visitor with no token, or a cut
#: or padded one, gets the page explaining what happened and offering a new link
#: (``_link_token``), not the validation error's JSON.
Token = Annotated[str | None, Query()]
FormToken = Annotated[str | None, Form()]
TOKEN_MAX_LENGTH = 100
NO_LINK = "this page opens from the link in one of our e-mails, and none was given"
_STATUSES: tuple[tuple[type[ClientVaultError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
)
NOTICES = {
    "saved": "Your choice was saved.",
    "unsubscribed": "You are unsubscribed.",
    "request": "Your request was received. We will answer by the date shown below.",
}


def _policy(request: Request) -> PrivacySettings:
    policy: PrivacySettings = request.app.state.settings.privacy
    return policy


def _link_token(token: str | None) -> str:
    """The token of a link, or ``Unauthenticated`` (the friendly page) when there is none
    or it cannot be one."""
    if not token:
        raise Unauthenticated(NO_LINK)
    if len(token) > TOKEN_MAX_LENGTH:
        raise Unauthenticated(links.INVALID_LINK)
    return token


def problem_page(request: Request, error: ClientVaultError) -> HTMLResponse:
    """The page for a link that does not work, or a request that cannot be done; a link
    problem offers to e-mail a new link."""
    status = next((s for kind, s in _STATUSES if isinstance(error, kind)), 403)
    message = error.message if status != 403 else links.INVALID_LINK
    if error.message == NO_LINK:
        status, message = 400, NO_LINK
    return render(
        request,
        "preferences/problem.html",
        {
            "title": "Preferences",
            "message": message,
            "offer_link": status in (400, 403),
            "policy": _policy(request),
        },
        status_code=status,
    )


def _in_transaction(
    request: Request, store: Store, action: Callable[[Session, str], Response], token: str | None
) -> Response:
    """Run ``action`` with the link's token in one writing transaction; a missing token or a
    clientvault error becomes a page."""
    try:
        checked = _link_token(token)
        with store.sessions.begin() as session:
            return action(session, checked)
    except ClientVaultError as error:
        return problem_page(request, error)


def _back(token: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFERENCES}?{urlencode({'token': token, 'done': done})}", 303)


@router.get(PREFERENCES, response_class=HTMLResponse, name="preferences")
def preferences_page(
    request: Request,
    store: StoreDep,
    token: Token = None,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The subject's consents per purpose, their requests, download and erasure."""
    policy = _policy(request)

    def show(session: Session, token: str) -> Response:
        customer_id = preferences.open_centre(
            session, store, policy=policy, token=token, gpc=request.headers.get("sec-gpc") == "1"
        )
        centre = preferences.view(session, customer_id=customer_id)
        today = lifecycle.today_utc()
        return render(
            request,
            "preferences/centre.html",
            {
                "title": "Your privacy preferences",
                "token": token,
                "centre": centre,
                "notice": NOTICES.get(done or ""),
                "deadline": lambda r: lifecycle.deadline_state(
                    r, today=today, due_soon_days=policy.due_soon_days
                ),
                "kind_labels": lifecycle.KIND_LABELS,
                "self_service_kinds": preferences.SELF_SERVICE_KINDS,
                "policy": policy,
            },
        )

    return _in_transaction(request, store, show, token)


@router.post(f"{PREFERENCES}/consents", name="preferences_consent")
def change_consent(
    request: Request,
    store: StoreDep,
    purpose: Annotated[str, Form(min_length=1, max_length=64)],
    decision: Annotated[str, Form(pattern="^(granted|withdrawn)$")],
    token: FormToken = None,
) -> Response:
    """Give or withdraw consent to one purpose."""

    def change(session: Session, token: str) -> Response:
        preferences.set_consent(
            session,
            store,
            policy=_policy(request),
            token=token,
            purpose=purpose,
            granted=decision == "granted",
        )
        return _back(token, "saved")

    return _in_transaction(request, store, change, token)


@router.get(f"{PREFERENCES}/unsubscribe", response_class=HTMLResponse)
def unsubscribe_page(request: Request, store: StoreDep, token: Token = None) -> Response:
    """A button to confirm the unsubscription (a GET changes nothing)."""

    def show(session: Session, token: str) -> Response:
        preferences.open_centre(session, store, policy=_policy(request), token=token)
        return render(
            request, "preferences/unsubscribe.html", {"title": "Unsubscribe", "token": token}
        )

    return _in_transaction(request, store, show, token)


@router.post(f"{PREFERENCES}/unsubscribe", name="preferences_unsubscribe")
async def unsubscribe(request: Request, store: StoreDep, token: Token = None) -> Response:
    """One-click unsubscribe: the mail client's POST (RFC 8058) or the page's button."""
    form = await request.form()
    one_click = form.get("List-Unsubscribe") == "One-Click"

    def withdraw(session: Session, token: str) -> Response:
        preferences.unsubscribe(session, store, policy=_policy(request), token=token)
        if one_click:
            return Response("unsubscribed\n", media_type="text/plain")
        return _back(token, "unsubscribed")

    return _in_transaction(request, store, withdraw, token)


@router.get(f"{PREFERENCES}/export", name="preferences_export")
def download(request: Request, store: StoreDep, token: Token = None) -> Response:
    """The subject's data as a zip of JSON and CSV files."""

    def export(session: Session, token: str) -> Response:
        data = preferences.download(session, store, policy=_policy(request), token=token)
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="my-data.zip"'},
        )

    return _in_transaction(request, store, export, token)


@router.post(f"{PREFERENCES}/requests", name="preferences_request")
def make_request(
    request: Request,
    store: StoreDep,
    kind: Annotated[str, Form(max_length=16)],
    token: FormToken = None,
) -> Response:
    """Ask for erasure, portability, restriction, objection or opt-out (a request the DPO
    carries out within its deadline)."""

    def ask(session: Session, token: str) -> Response:
        preferences.make_request(session, store, policy=_policy(request), token=token, kind=kind)
        return _back(token, "request")

    return _in_transaction(request, store, ask, token)


@router.get(f"{PREFERENCES}/start", response_class=HTMLResponse, name="preferences_start")
def start_page(request: Request) -> Response:
    """The site's entry to the preference centre: ask for a link by e-mail."""
    return render(
        request,
        "preferences/start.html",
        {"title": "Your privacy preferences", "policy": _policy(request), "sent": False},
    )


@router.post(f"{PREFERENCES}/start", response_class=HTMLResponse)
def send_link(
    request: Request,
    store: StoreDep,
    email: Annotated[str, Form(min_length=3, max_length=254)],
) -> Response:
    """E-mail a link to the address if it is known; the page says the same either way."""
    policy = _policy(request)
    with store.sessions.begin() as session:
        preferences.send_link(session, store, policy=policy, email=email)
    return render(
        request,
        "preferences/start.html",
        {"title": "Your privacy preferences", "policy": policy, "sent": True},
    )


@router.get(f"{PREFERENCES}/verify", response_class=HTMLResponse)
def verify_page(request: Request, store: StoreDep, token: Token = None) -> Response:
    """What the verification link confirms, with a button (opening the link verifies
    nothing, so that mail scanners cannot confirm a request for the subject)."""

    def show(session: Session, token: str) -> Response:
        pending = lifecycle.pending_verification(
            session, store, policy=_policy(request), token=token
        )
        return _verify_page(request, pending, token=token, confirmed=False)

    return _in_transaction(request, store, show, token)


@router.post(f"{PREFERENCES}/verify", response_class=HTMLResponse)
def verify(request: Request, store: StoreDep, token: FormToken = None) -> Response:
    """Confirm the request: the link is used up."""

    def confirm(session: Session, token: str) -> Response:
        verified = lifecycle.verify_request(session, store, policy=_policy(request), token=token)
        return _verify_page(request, verified, token=None, confirmed=True)

    return _in_transaction(request, store, confirm, token)


def _verify_page(
    request: Request, dsr: DataSubjectRequest, *, token: str | None, confirmed: bool
) -> Response:
    context: dict[str, Any] = {
        "title": "Confirm your request",
        "kind": lifecycle.KIND_LABELS[dsr.kind],
        "received_at": dsr.received_at,
        "due_on": dsr.due_on,
        "token": token,
        "confirmed": confirmed,
    }
    return render(request, "preferences/verify.html", context)


@router.get("/privacy-notice", response_class=HTMLResponse, name="privacy_notice")
def privacy_notice(request: Request, store: StoreDep) -> Response:
    """The public privacy notice, generated from the records of processing."""
    policy = _policy(request)
    with store.read_sessions() as session, session.begin():
        found = records.list_records(session)
        return render(
            request,
            "preferences/notice.html",
            {"title": "Privacy notice", "records": found, "policy": policy},
        )

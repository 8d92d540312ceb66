"""My account (``/console/account``): who I am, my second factor, my sessions, my API tokens.

Any signed-in user may open it (``Authorize("authenticated")``). A new token's secret is on
the page that answers its creation, and nowhere else afterwards (only its hash is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, PermissionDenied
from clientvault.http.auth import Authorize, Caller, session_token
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.security.accounts import get_user
from clientvault.security.credentials import hash_secret
from clientvault.security.models import StaffSession, User
from clientvault.security.permissions import PERMISSIONS
from clientvault.security.sessions import active_sessions
from clientvault.security.signin import mfa_required
from clientvault.security.tokens import (
    Maker,
    TokenListing,
    issue_token,
    revoke_token,
    tokens_of,
)
from clientvault.settings import Settings
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
SignedIn = Annotated[Caller, Depends(Authorize("authenticated"))]

ACCOUNT_PATH = f"{CONSOLE_PREFIX}/account"
#: Notices shown after a redirect back to the page (``?done=...``).
NOTICES = {
    "password": "Your password was changed. Your other sessions were signed out.",
    "revoked": "The token was revoked. It no longer works.",
}
#: Lifetimes offered for a new token (capped by the installation's ``api_token_max_days``).
TOKEN_DAYS = (7, 30, 90)


@dataclass(frozen=True)
class AccountView:
    """Everything "my account" shows (no secret: token secrets are shown only when issued)."""

    user: User
    mfa_required: bool
    token_days: tuple[int, ...]
    sessions: list[StaffSession]
    current_session: str | None
    tokens: list[TokenListing]


def _account_view(
    session: Session, caller: Caller, settings: Settings, *, current_token: str | None
) -> AccountView:
    user = get_user(session, caller.principal.id)
    longest = settings.security.api_token_max_days
    return AccountView(
        user=user,
        mfa_required=caller.user is not None and mfa_required(caller.user, settings),
        token_days=(*(days for days in TOKEN_DAYS if days < longest), longest),
        sessions=active_sessions(session, user),
        current_session=hash_secret(current_token) if current_token else None,
        tokens=tokens_of(session, user),
    )


def _page(
    request: Request,
    caller: Caller,
    view: AccountView,
    *,
    new_secret: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    form_name: str = "",
    status_code: int = 200,
) -> Response:
    scopes = [(name, PERMISSIONS[name]) for name in sorted(caller.principal.permissions)]
    return render(
        request,
        "account/account.html",
        {
            "title": "My account",
            "view": view,
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
            "scopes": scopes,
            "new_secret": new_secret,
            "error": error,
            "notice": notice,
            "form_name": form_name,
        },
        status_code=status_code,
    )


@router.get("/account", response_class=HTMLResponse, name="console_account")
def account(
    request: Request,
    caller: SignedIn,
    store: StoreDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """My e-mail, role, second factor, sessions and API tokens."""
    with store.read_sessions() as session, session.begin():
        view = _account_view(session, caller, settings, current_token=session_token(request))
    return _page(request, caller, view, notice=NOTICES.get(done or ""))


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    caller: SignedIn,
    store: StoreDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=64)] = "",
    scopes: Annotated[list[str] | None, Form(max_length=64)] = None,
    days: Annotated[int, Form(ge=1, le=3660)] = 30,
) -> Response:
    """Issue an API token for myself; its secret is on this page only."""
    secret, error, status = None, None, 200
    try:
        if not name.strip():
            raise InvalidInput("give the token a name", details={"field": "name"})
        with store.sessions.begin() as session:
            issued = issue_token(
                session,
                user=get_user(session, caller.principal.id),
                name=name,
                scopes=set(scopes or ()),
                days=days,
                policy=settings.security,
                by=Maker(caller.principal, caller.staff_session),
            )
            secret = issued.secret
    except InvalidInput as exc:
        error, status = exc.message, 422
    except PermissionDenied as exc:  # shown on the form, which the user may still use
        error, status = exc.message, 403
    with store.read_sessions() as session, session.begin():
        view = _account_view(session, caller, settings, current_token=session_token(request))
    return _page(
        request,
        caller,
        view,
        new_secret=secret,
        error=error,
        form_name="" if secret else name,
        status_code=status,
    )


@router.post("/account/tokens/{token_id}/revoke")
def revoke(token_id: str, caller: SignedIn, store: StoreDep) -> RedirectResponse:
    """Revoke one of my tokens at once."""
    with store.sessions.begin() as session:
        revoke_token(session, user=get_user(session, caller.principal.id), token_id=token_id)
    return RedirectResponse(f"{ACCOUNT_PATH}?done=revoked", status_code=303)

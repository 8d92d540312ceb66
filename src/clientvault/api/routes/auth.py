"""Signing in and out, the second factor, password changes, my account and my API tokens.

The steps are the console's own (``security.signin``): one implementation answering in JSON
here and in pages there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from clientvault.errors import InvalidInput, PermissionDenied, Unauthenticated
from clientvault.http import cookies
from clientvault.http.auth import CSRF_HEADER, Authorize, Caller, session_token
from clientvault.security import signin
from clientvault.security.accounts import get_user
from clientvault.security.schemas import (
    PasswordChange,
    SecondFactor,
    SignIn,
    SignInState,
    TokenCreate,
    UserRead,
)
from clientvault.security.tokens import Maker, issue_token, revoke_token
from clientvault.settings import Settings
from clientvault.store.context import Store

router = APIRouter(prefix="/api/v1", tags=["auth"])
Authenticated = Annotated[Caller, Depends(Authorize("authenticated"))]


def _context(request: Request) -> tuple[Store, Settings]:
    return request.app.state.store, request.app.state.settings


def _state(step: signin.NextStep) -> SignInState:
    return SignInState(
        mfa_required=step.mfa_pending,
        mfa_enrolled=step.mfa_enrolled,
        must_change_password=step.must_change_password,
        csrf_token=step.csrf_token,
    )


@router.post("/auth/login", response_model=SignInState)
def login(body: SignIn, request: Request, response: Response) -> SignInState:
    """Check e-mail and password and open a new session (a second factor may follow)."""
    store, settings = _context(request)
    signed_in = signin.sign_in_with_password(
        store,
        settings,
        email=body.email,
        password=body.password,
        client=cookies.client_network(request),
        previous_token=session_token(request),
    )
    cookies.set_session_cookie(response, signed_in.token, settings)
    return _state(signed_in.step)


@router.post("/auth/mfa", response_model=SignInState)
def second_factor(body: SecondFactor, request: Request, response: Response) -> SignInState:
    """Pass the second factor with a TOTP code or a recovery code; the session gets a new id
    (and CSRF token) once it is passed."""
    store, settings = _context(request)
    signed_in = signin.pass_second_factor(
        store,
        settings,
        token=session_token(request),
        csrf=request.headers.get(CSRF_HEADER),
        code=body.code,
        recovery_code=body.recovery_code,
    )
    if signed_in is None:
        raise Unauthenticated("the code is not right")
    cookies.set_session_cookie(response, signed_in.token, settings)
    return _state(signed_in.step)


@router.post("/auth/mfa/enrol")
def begin_mfa(request: Request) -> dict[str, str]:
    """Start TOTP enrolment: the secret, its otpauth URI and a QR code (SVG, drawn locally)."""
    store, settings = _context(request)
    enrolment = signin.begin_enrolment(
        store, settings, token=session_token(request), csrf=request.headers.get(CSRF_HEADER)
    )
    return {"secret": enrolment.secret, "uri": enrolment.uri, "qr_svg": enrolment.qr_svg}


@router.post("/auth/mfa/confirm")
def confirm_mfa(body: SecondFactor, request: Request, response: Response) -> dict[str, Any]:
    """Finish enrolment with a first code; returns the ten recovery codes, shown once, and the
    new session's CSRF token (the session gets a new id once the second factor is passed)."""
    store, settings = _context(request)
    if not body.code:
        raise InvalidInput("a code is required", details={"field": "code"})
    done = signin.confirm_enrolment(
        store,
        settings,
        token=session_token(request),
        csrf=request.headers.get(CSRF_HEADER),
        code=body.code,
    )
    cookies.set_session_cookie(response, done.signed_in.token, settings)
    return {"recovery_codes": done.recovery_codes, "csrf_token": done.signed_in.step.csrf_token}


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, caller: Authenticated) -> None:
    """End this session."""
    store, settings = _context(request)
    signin.sign_out(
        store, settings, token=session_token(request), csrf=request.headers.get(CSRF_HEADER)
    )
    cookies.clear_session_cookie(response)


@router.post("/auth/password", response_model=SignInState)
def new_password(
    body: PasswordChange,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(Authorize("authenticated", allow_password_change=True))],
) -> SignInState:
    """Change my password: every session ends, and this browser gets a fresh one."""
    store, settings = _context(request)
    if caller.user is None or caller.staff_session is None:
        raise PermissionDenied("passwords are changed from a signed-in browser session")
    signed_in = signin.change_own_password(
        store,
        settings,
        user_id=caller.user.id,
        mfa_passed=caller.staff_session.mfa_passed,
        current=body.current,
        new=body.new,
    )
    cookies.set_session_cookie(response, signed_in.token, settings)
    return _state(signed_in.step)


@router.get("/me", response_model=UserRead)
def me(request: Request, caller: Authenticated) -> UserRead:
    """My account."""
    store, _ = _context(request)
    with store.read_sessions() as session:
        return UserRead.model_validate(get_user(session, caller.principal.id))


@router.post("/me/tokens", status_code=201)
def create_token(body: TokenCreate, request: Request, caller: Authenticated) -> dict[str, Any]:
    """Issue an API token for myself; its secret is in this answer only.

    From a session that passed its second factor within the last minutes, or from a token
    with the ``tokens:create`` scope (then only narrower and expiring no later than it)."""
    store, settings = _context(request)
    with store.sessions.begin() as session:
        user = get_user(session, caller.principal.id)
        issued = issue_token(
            session,
            user=user,
            name=body.name,
            scopes=set(body.scopes),
            days=body.days,
            policy=settings.security,
            by=Maker(caller.principal, caller.staff_session),
        )
        return {
            "id": str(issued.token.id),
            "token": issued.secret,
            "expires_at": issued.token.expires_at.isoformat(),
        }


@router.delete("/me/tokens/{token_id}", status_code=204)
def delete_token(token_id: str, request: Request, caller: Authenticated) -> None:
    """Revoke one of my tokens."""
    store, _ = _context(request)
    with store.sessions.begin() as session:
        revoke_token(session, user=get_user(session, caller.principal.id), token_id=token_id)

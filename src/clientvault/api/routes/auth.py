"""Signing in and out, the second factor, password changes, my account and my API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from clientvault.errors import ClientVaultError, InvalidInput, PermissionDenied, Unauthenticated
from clientvault.security import mfa
from clientvault.security.accounts import change_password, get_user, sign_in
from clientvault.security.models import StaffSession, User
from clientvault.security.passwords import hasher_for
from clientvault.security.schemas import (
    PasswordChange,
    SecondFactor,
    SignIn,
    SignInState,
    TokenCreate,
    UserRead,
)
from clientvault.security.sessions import (
    COOKIE_NAME,
    csrf_valid,
    end_all_sessions_and_reopen,
    end_session,
    mark_mfa_passed,
    resolve_session,
    start_session,
    token_hash,
)
from clientvault.security.tokens import issue_token, revoke_token
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.web.auth import CSRF_HEADER, Authorize, Caller, mfa_required, session_token

router = APIRouter(prefix="/api/v1", tags=["auth"])
Authenticated = Annotated[Caller, Depends(Authorize("authenticated"))]


def _context(request: Request) -> tuple[Store, Settings]:
    return request.app.state.store, request.app.state.settings


def _set_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.security.session_absolute_hours * 3600,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def _state(user: User, staff_session: StaffSession, settings: Settings) -> SignInState:
    return SignInState(
        mfa_required=mfa_required(user, settings) and not staff_session.mfa_passed,
        mfa_enrolled=user.totp_confirmed,
        must_change_password=user.must_change_password,
        csrf_token=staff_session.csrf_token,
    )


@router.post("/auth/login", response_model=SignInState)
def login(body: SignIn, request: Request, response: Response) -> SignInState:
    """Check e-mail and password and open a new session (a second factor may follow)."""
    store, settings = _context(request)
    client = request.client.host if request.client else None
    failure: ClientVaultError | None = None
    with store.sessions.begin() as session:
        try:
            user = sign_in(
                session,
                email=body.email,
                password=body.password,
                client=client,
                ph=hasher_for(settings.security),
                policy=settings.security,
            )
        except Unauthenticated as exc:
            failure = exc  # the failure count and audit entry must still commit
        else:
            previous = session_token(request)
            if previous:  # a new session id at every sign-in: no fixation
                end_session(session, token=previous)
            opened = start_session(
                session,
                user=user,
                mfa_passed=not mfa_required(user, settings),
                client_network=client,
                policy=settings.security,
            )
            staff_session = session.get(StaffSession, token_hash(opened.token))
            assert staff_session is not None
            state = _state(user, staff_session, settings)
    if failure is not None:
        raise failure
    _set_cookie(response, opened.token, settings)
    return state


def _pending(request: Request, session: Session, settings: Settings) -> tuple[StaffSession, User]:
    """The cookie's session even before its second factor (only for the sign-in steps)."""
    token = session_token(request)
    found = resolve_session(session, token=token, policy=settings.security) if token else None
    if found is None:
        raise Unauthenticated("sign in first")
    if not csrf_valid(found[0], request.headers.get(CSRF_HEADER)):
        raise PermissionDenied("missing or wrong CSRF token")
    return found


@router.post("/auth/mfa", response_model=SignInState)
def second_factor(body: SecondFactor, request: Request) -> SignInState:
    """Pass the second factor with a TOTP code or a recovery code."""
    store, settings = _context(request)
    with store.sessions.begin() as session:
        staff_session, user = _pending(request, session, settings)
        if body.code:
            passed = mfa.verify_totp(session, store.keystore, user=user, code=body.code)
        elif body.recovery_code:
            passed = mfa.use_recovery_code(session, user=user, code=body.recovery_code)
        else:
            raise InvalidInput("a code or a recovery code is required")
        if passed:
            mark_mfa_passed(staff_session)
        state = _state(user, staff_session, settings)
    if not passed:
        raise Unauthenticated("the code is not right")
    return state


@router.post("/auth/mfa/enrol")
def begin_mfa(request: Request) -> dict[str, str]:
    """Start TOTP enrolment: the secret, its otpauth URI and a QR code (SVG, drawn locally)."""
    store, settings = _context(request)
    with store.sessions.begin() as session:
        staff_session, user = _pending(request, session, settings)
        if user.totp_confirmed and not staff_session.mfa_passed:
            raise PermissionDenied("pass the second factor first")
        enrolment = mfa.begin_enrolment(session, store.keystore, user=user)
    return {"secret": enrolment.secret, "uri": enrolment.uri, "qr_svg": enrolment.qr_svg}


@router.post("/auth/mfa/confirm")
def confirm_mfa(body: SecondFactor, request: Request) -> dict[str, Any]:
    """Finish enrolment with a first code; returns the ten recovery codes, shown once."""
    store, settings = _context(request)
    with store.sessions.begin() as session:
        staff_session, user = _pending(request, session, settings)
        codes = mfa.confirm_enrolment(session, store.keystore, user=user, code=body.code or "")
        mark_mfa_passed(staff_session)
    return {"recovery_codes": codes}


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, caller: Authenticated) -> None:
    """End this session."""
    store, _ = _context(request)
    token = session_token(request)
    if token:
        with store.sessions.begin() as session:
            end_session(session, token=token)
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True, samesite="strict")


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
    with store.sessions.begin() as session:
        user = get_user(session, str(caller.user.id))
        mfa_passed = caller.staff_session.mfa_passed
        change_password(
            session, user=user, current=body.current, new=body.new, ph=hasher_for(settings.security)
        )
        opened = end_all_sessions_and_reopen(
            session, user=user, mfa_passed=mfa_passed, policy=settings.security
        )
        staff_session = session.get(StaffSession, token_hash(opened.token))
        assert staff_session is not None
        state = _state(user, staff_session, settings)
    _set_cookie(response, opened.token, settings)
    return state


@router.get("/me", response_model=UserRead)
def me(request: Request, caller: Authenticated) -> UserRead:
    """My account."""
    store, _ = _context(request)
    with store.read_sessions() as session:
        return UserRead.model_validate(get_user(session, caller.principal.id))


@router.post("/me/tokens", status_code=201)
def create_token(body: TokenCreate, request: Request, caller: Authenticated) -> dict[str, Any]:
    """Issue an API token for myself; its secret is in this answer only."""
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

"""The console's sign-in pages: password, second factor (challenge and enrolment), the
forced change of a one-time password, and signing out.

The work is done by ``security.signin`` (shared with the JSON API); these routes read forms,
pick the page and carry ``next`` (the page the user asked for, validated by
``web.signin_flow``) from step to step. The challenge and enrolment pages serve a session
whose second factor is still pending, which ``Authorize`` refuses by design: they resolve the
cookie's session through the sign-in steps instead, and check its CSRF token on every POST.
The password page is a normal console page
(``Authorize("authenticated", allow_password_change=True)``).

A failed sign-in says the same thing whatever was wrong (unknown account, wrong password,
disabled account), so the page cannot be used to find out who has an account.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clientvault.errors import Conflict, InvalidInput, RateLimited, Unauthenticated
from clientvault.http import cookies
from clientvault.http.auth import Authorize, Caller, session_token
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.security import signin
from clientvault.security.passwords import MIN_LENGTH
from clientvault.web import signin_flow as flow
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)

#: The one answer to every failed sign-in (see the module docstring).
SIGN_IN_FAILED = "The e-mail or password is not right."
CODE_NOT_RIGHT = "That code is not right. Check the authenticator app's clock and try again."

NextQuery = Annotated[str | None, Query(alias="next", max_length=2000)]
NextField = Annotated[str, Form(alias="next", max_length=2000)]
CsrfField = Annotated[str, Form(max_length=128)]
ChangingPassword = Annotated[
    Caller, Depends(Authorize("authenticated", allow_password_change=True))
]


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _too_many(error: RateLimited) -> str:
    minutes = flow.retry_minutes(error)
    return f"Too many attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}."


# ---- password --------------------------------------------------------------------------------


def _login_page(
    request: Request,
    *,
    next_path: str | None,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    csrf = cookies.new_login_csrf()
    response = render(
        request,
        "signin/login.html",
        {
            "title": "Sign in",
            "csrf_token": csrf,
            "next": flow.safe_next(next_path) or "",
            "email": email,
            "error": error,
        },
        status_code=status_code,
    )
    cookies.set_login_csrf_cookie(response, csrf)
    return response


@router.get("/login", response_class=HTMLResponse, name="console_login")
def login_form(
    request: Request, store: StoreDep, settings: SettingsDep, next_path: NextQuery = None
) -> Response:
    """The sign-in form; a browser already signed in goes on to its next step or page."""
    view = signin.pending_view(store, settings, token=session_token(request))
    if view is not None:
        return _redirect(flow.destination(view.step, next_path))
    return _login_page(request, next_path=next_path)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=1024)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    csrf_token: CsrfField = "",
    next_path: NextField = "",
) -> Response:
    """Check e-mail and password; on success open a session and go to the next step."""
    if not cookies.login_csrf_valid(request, csrf_token):
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            error="This form had expired. Please sign in again.",
            status_code=403,
        )
    try:
        signed_in = signin.sign_in_with_password(
            store,
            settings,
            email=email,
            password=password,
            client=cookies.client_network(request),
            previous_token=session_token(request),
        )
    except Unauthenticated:
        return _login_page(
            request, next_path=next_path, email=email, error=SIGN_IN_FAILED, status_code=401
        )
    except RateLimited as exc:
        return _login_page(
            request, next_path=next_path, email=email, error=_too_many(exc), status_code=429
        )
    response = _redirect(flow.destination(signed_in.step, next_path))
    cookies.set_session_cookie(response, signed_in.token, settings)
    cookies.clear_login_csrf_cookie(response)
    return response


# ---- second factor: challenge ----------------------------------------------------------------


def _challenge_page(
    request: Request,
    view: signin.PendingView,
    *,
    next_path: str | None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "signin/mfa_challenge.html",
        {
            "title": "Two-factor authentication",
            "view": view,
            "csrf_token": view.step.csrf_token,
            "next": flow.safe_next(next_path) or "",
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/login/mfa", response_class=HTMLResponse, name="console_mfa_challenge")
def challenge_form(
    request: Request, store: StoreDep, settings: SettingsDep, next_path: NextQuery = None
) -> Response:
    """Ask for a code from the authenticator app (or a recovery code)."""
    view = signin.pending_view(store, settings, token=session_token(request))
    if view is None:
        return _redirect(flow.login_url(next_path))
    if not view.step.mfa_pending or view.step.needs_enrolment:
        return _redirect(flow.destination(view.step, next_path))
    return _challenge_page(request, view, next_path=next_path)


@router.post("/login/mfa", response_class=HTMLResponse)
def challenge(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=64)] = "",
    recovery_code: Annotated[str, Form(max_length=64)] = "",
    csrf_token: CsrfField = "",
    next_path: NextField = "",
) -> Response:
    """Check the code; on success the session becomes usable and the user goes on."""
    token = session_token(request)
    error, status = None, 200
    try:
        signed_in = signin.pass_second_factor(
            store, settings, token=token, csrf=csrf_token, code=code, recovery_code=recovery_code
        )
    except RateLimited as exc:
        signed_in, error, status = None, _too_many(exc), 429
    except InvalidInput:
        signed_in, error, status = None, "Enter the code from your authenticator app.", 422
    if signed_in is not None:
        response = _redirect(flow.destination(signed_in.step, next_path))
        cookies.set_session_cookie(response, signed_in.token, settings)
        return response
    view = signin.pending_view(store, settings, token=token)
    if view is None:
        return _redirect(flow.login_url(next_path))
    return _challenge_page(
        request,
        view,
        next_path=next_path,
        error=error or CODE_NOT_RIGHT,
        status_code=status if error else 401,
    )


# ---- second factor: enrolment ----------------------------------------------------------------


def _enrolment_page(
    request: Request,
    view: signin.PendingView,
    *,
    stage: str,
    next_path: str | None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    context: dict[str, Any] = {
        "title": "Set up two-factor authentication",
        "view": view,
        "stage": stage,
        "csrf_token": view.step.csrf_token,
        "next": flow.safe_next(next_path) or "",
        "enrolment": None,
        "recovery_codes": [],
        "continue_url": "",
        "error": None,
    }
    context.update(extra)
    return render(request, "signin/mfa_enrol.html", context, status_code=status_code)


@router.get("/account/mfa", response_class=HTMLResponse, name="console_mfa_enrol")
def enrolment_start_page(
    request: Request, store: StoreDep, settings: SettingsDep, next_path: NextQuery = None
) -> Response:
    """Explain two-factor authentication and offer to set it up (or say it is on already)."""
    view = signin.pending_view(store, settings, token=session_token(request))
    if view is None:
        return _redirect(flow.login_url(f"{CONSOLE_PREFIX}/account/mfa"))
    if view.step.mfa_pending and view.step.mfa_enrolled:
        return _redirect(flow.destination(view.step, next_path))
    stage = "enrolled" if view.step.mfa_enrolled else "intro"
    return _enrolment_page(request, view, stage=stage, next_path=next_path)


@router.post("/account/mfa/start", response_class=HTMLResponse)
def enrolment_begin(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    next_path: NextField = "",
) -> Response:
    """Draw a new secret and show it as a QR code and as text, with the confirmation form."""
    token = session_token(request)
    try:
        enrolment = signin.begin_enrolment(store, settings, token=token, csrf=csrf_token)
    except Conflict:  # set up already (in another tab, say)
        return _redirect(flow.with_next(flow.MFA_ENROL_PATH, next_path))
    view = signin.pending_view(store, settings, token=token)
    if view is None:  # pragma: no cover - the session was just used
        return _redirect(flow.login_url(next_path))
    return _enrolment_page(request, view, stage="scan", next_path=next_path, enrolment=enrolment)


@router.post("/account/mfa/confirm", response_class=HTMLResponse)
def enrolment_confirm(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=64)] = "",
    secret: Annotated[str, Form(max_length=128)] = "",
    csrf_token: CsrfField = "",
    next_path: NextField = "",
) -> Response:
    """Check a first code; on success show the ten recovery codes, this once."""
    token = session_token(request)
    try:
        done = signin.confirm_enrolment(store, settings, token=token, csrf=csrf_token, code=code)
    except Conflict:
        return _redirect(flow.with_next(flow.MFA_ENROL_PATH, next_path))
    except InvalidInput:
        view = signin.pending_view(store, settings, token=token)
        if view is None:  # pragma: no cover - the session was just used
            return _redirect(flow.login_url(next_path))
        enrolment = signin.redisplay_enrolment(secret, email=view.email)
        if enrolment is None:
            return _redirect(flow.with_next(flow.MFA_ENROL_PATH, next_path))
        return _enrolment_page(
            request,
            view,
            stage="scan",
            next_path=next_path,
            enrolment=enrolment,
            error=CODE_NOT_RIGHT,
            status_code=422,
        )
    view = signin.pending_view(store, settings, token=done.signed_in.token)
    if view is None:  # pragma: no cover - the session was just opened
        return _redirect(flow.login_url(next_path))
    page = _enrolment_page(
        request,
        view,
        stage="codes",
        next_path=next_path,
        recovery_codes=done.recovery_codes,
        continue_url=flow.destination(done.signed_in.step, next_path),
    )
    cookies.set_session_cookie(page, done.signed_in.token, settings)
    return page


# ---- password change -------------------------------------------------------------------------


def _password_page(
    request: Request,
    caller: Caller,
    *,
    next_path: str | None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    assert caller.staff_session is not None
    assert caller.user is not None
    return render(
        request,
        "signin/password.html",
        {
            "title": "Change password",
            "forced": caller.user.must_change_password,
            "csrf_token": caller.staff_session.csrf_token,
            "next": flow.safe_next(next_path) or "",
            "min_length": MIN_LENGTH,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/account/password", response_class=HTMLResponse, name="console_password")
def password_form(
    request: Request, caller: ChangingPassword, next_path: NextQuery = None
) -> Response:
    """The password form (the only page a user with a one-time password may open)."""
    if caller.staff_session is None:  # an API token, not a browser
        raise Unauthenticated("sign in first")
    return _password_page(request, caller, next_path=next_path)


@router.post("/account/password", response_class=HTMLResponse)
def password_change(
    request: Request,
    caller: ChangingPassword,
    store: StoreDep,
    settings: SettingsDep,
    current: Annotated[str, Form(max_length=4096)] = "",
    new: Annotated[str, Form(max_length=4096)] = "",
    confirm: Annotated[str, Form(max_length=4096)] = "",
    next_path: NextField = "",
) -> Response:
    """Change the password; every other session ends and this browser gets a new one."""
    if caller.staff_session is None or caller.user is None:
        raise Unauthenticated("sign in first")
    if new != confirm:
        return _password_page(
            request,
            caller,
            next_path=next_path,
            error="The two new passwords are not the same.",
            status_code=422,
        )
    try:
        signed_in = signin.change_own_password(
            store,
            settings,
            user_id=caller.user.id,
            mfa_passed=caller.staff_session.mfa_passed,
            current=current,
            new=new,
        )
    except Unauthenticated:
        error = "The current password is not right."
        return _password_page(request, caller, next_path=next_path, error=error, status_code=422)
    except InvalidInput as exc:
        return _password_page(
            request, caller, next_path=next_path, error=exc.message, status_code=422
        )
    target = flow.safe_next(next_path) or f"{CONSOLE_PREFIX}/account?done=password"
    response = _redirect(target)
    cookies.set_session_cookie(response, signed_in.token, settings)
    return response


# ---- sign out --------------------------------------------------------------------------------


@router.post("/logout", name="console_logout")
def logout(
    request: Request, store: StoreDep, settings: SettingsDep, csrf_token: CsrfField = ""
) -> Response:
    """End this browser's session, at any sign-in step, and go back to the sign-in page."""
    signin.sign_out(store, settings, token=session_token(request), csrf=csrf_token)
    response = _redirect(flow.LOGIN_PATH)
    cookies.clear_session_cookie(response)
    return response

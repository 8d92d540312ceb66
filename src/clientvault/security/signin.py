"""The sign-in steps, shared by the console's pages and the JSON API.

Signing in takes several requests: the password, then perhaps a second factor (or, for a
role that must use MFA and has not yet, enrolment), then perhaps a new password in place of a
one-time one. Each step here is one function that runs one transaction on the store and
returns plain values; the faces only turn HTTP into arguments and the result into a page or a
JSON body. The console (``web/routes/signin.py``) reads the CSRF token from a form field,
the API (``api/routes/auth.py``) from the ``X-CSRF-Token`` header, and both pass it in as
``csrf``.

Before the second factor, a session is *pending*: ``http.auth.Authorize`` refuses it, and only
the steps below (which resolve the cookie's session themselves) accept it. A failure that must
be remembered (a wrong password or code counts towards lock-out and is audited) is committed
before the error is raised.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy.orm import Session

from clientvault.errors import (
    ClientVaultError,
    InvalidInput,
    PermissionDenied,
    Unauthenticated,
)
from clientvault.security import audit, mfa, throttle
from clientvault.security.accounts import change_password, get_user, sign_in
from clientvault.security.credentials import hash_secret
from clientvault.security.models import StaffSession, User
from clientvault.security.passwords import MAX_LENGTH, hasher_for
from clientvault.security.permissions import MFA_REQUIRED_ROLES
from clientvault.security.principal import Principal
from clientvault.security.sessions import (
    OpenedSession,
    csrf_valid,
    end_all_sessions_and_reopen,
    end_session,
    resolve_session,
    rotate_after_second_factor,
    start_session,
)
from clientvault.settings import Settings
from clientvault.store.context import Store

#: A longer e-mail cannot exist (RFC 5321); a longer password was never accepted.
MAX_EMAIL_LENGTH = 254
_BASE32_SECRET = re.compile(r"^[A-Z2-7]{16,128}$")


@dataclass(frozen=True)
class NextStep:
    """Where a browser stands after a sign-in step, and the CSRF token of its session."""

    mfa_pending: bool
    mfa_enrolled: bool
    must_change_password: bool
    csrf_token: str

    @property
    def needs_enrolment(self) -> bool:
        """Whether the user must set up a second factor before the session can be used."""
        return self.mfa_pending and not self.mfa_enrolled


@dataclass(frozen=True)
class SignedIn:
    """A session just opened (or re-opened): the token for the cookie and what comes next."""

    token: str
    step: NextStep


@dataclass(frozen=True)
class PendingView:
    """What the sign-in step pages show about the browser's session (pending or not)."""

    display_name: str
    email: str
    role: str
    step: NextStep


@dataclass(frozen=True)
class EnrolmentView:
    """What a user needs to add clientvault to an authenticator app (shown, never stored)."""

    secret: str
    uri: str
    qr_svg: str


@dataclass(frozen=True)
class EnrolmentDone:
    """A confirmed second factor: the recovery codes to show once, the new session (its id
    changes once the second factor is passed) and what comes next."""

    recovery_codes: list[str]
    signed_in: SignedIn


# ---- the steps ---------------------------------------------------------------------------------


def mfa_required(user: User, settings: Settings) -> bool:
    """Whether this user must pass a second factor to use their session: always once they
    have enrolled (optional MFA that is never asked for protects nothing), and before that
    when their role or the installation requires it."""
    return (
        user.totp_confirmed
        or settings.security.mfa_required_for_all
        or user.role in MFA_REQUIRED_ROLES
    )


def next_step(user: User, staff_session: StaffSession, settings: Settings) -> NextStep:
    """What the holder of this session must do next."""
    return NextStep(
        mfa_pending=mfa_required(user, settings) and not staff_session.mfa_passed,
        mfa_enrolled=user.totp_confirmed,
        must_change_password=user.must_change_password,
        csrf_token=staff_session.csrf_token,
    )


def sign_in_with_password(
    store: Store,
    settings: Settings,
    *,
    email: str,
    password: str,
    client: str | None,
    previous_token: str | None,
) -> SignedIn:
    """Check e-mail and password and open a new session (a second factor may follow).

    Raises ``Unauthenticated`` with the same message whatever was wrong (unknown account,
    wrong password, disabled account) and ``RateLimited`` once the account or the network is
    locked out; both only after the failure count and the audit entry are committed. The
    browser's previous session, if any, ends: a new session id at every sign-in.
    """
    if len(email) > MAX_EMAIL_LENGTH or len(password) > MAX_LENGTH:
        # Never a valid account: answer as for any wrong password, without hashing megabytes.
        email, password = email[:MAX_EMAIL_LENGTH], password[:MAX_LENGTH] + "\x00"
    failure: ClientVaultError | None = None
    with store.sessions.begin() as session:
        try:
            user = sign_in(
                session,
                email=email,
                password=password,
                client=client,
                ph=hasher_for(settings.security),
                policy=settings.security,
            )
        except Unauthenticated as exc:
            failure = exc  # the failure count and the audit entry must still commit
        else:
            if previous_token:
                end_session(session, token=previous_token)
            opened = start_session(
                session,
                user=user,
                mfa_passed=not mfa_required(user, settings),
                client_network=client,
                policy=settings.security,
            )
            signed_in = _signed_in(session, user, opened, settings)
            step = signed_in.step
            audit.record(
                session,
                principal=_actor(user),
                action="login.succeeded",
                target_type="user",
                target_ids=[str(user.id)],
                details={"network": client or "unknown", "mfa_next": step.mfa_pending},
            )
    if failure is not None:
        raise failure
    return signed_in


def pending_view(store: Store, settings: Settings, *, token: str | None) -> PendingView | None:
    """The browser's session as the sign-in pages show it, pending or not; ``None`` if none."""
    if not token:
        return None
    with store.sessions.begin() as session:
        found = resolve_session(session, token=token, policy=settings.security)
        if found is None:
            return None
        staff_session, user = found
        return PendingView(
            display_name=user.display_name,
            email=user.email,
            role=user.role,
            step=next_step(user, staff_session, settings),
        )


def pass_second_factor(
    store: Store,
    settings: Settings,
    *,
    token: str | None,
    csrf: str | None,
    code: str | None,
    recovery_code: str | None,
) -> SignedIn | None:
    """Pass the second factor with a TOTP code or a single-use recovery code.

    Returns the new session (a new id once the second factor is passed: no fixation) and the
    next step, or ``None`` for a wrong (or replayed, or used) code, whose audit entry is
    committed. Wrong codes count towards a lock-out of the account's second factor, with the
    same limits as passwords, so that six digits cannot be found by trying them all:
    ``RateLimited`` then says for how long. ``Unauthenticated`` if there is no session to
    complete, ``PermissionDenied`` if the CSRF token is wrong.
    """
    code, recovery_code = (code or "").strip(), (recovery_code or "").strip()
    if not code and not recovery_code:
        raise InvalidInput("a code or a recovery code is required", details={"field": "code"})
    with store.sessions.begin() as session:
        staff_session, user = _pending(session, settings, token=token, csrf=csrf)
        key = _mfa_throttle_key(user)
        throttle.ensure_allowed(session, [key])
        if code:
            passed = mfa.verify_totp(session, store.keystore, user=user, code=code[:12])
        else:
            passed = mfa.use_recovery_code(session, user=user, code=recovery_code[:32])
        if not passed:
            policy = settings.security
            throttle.record_failure(
                session, key, limit=policy.account_failures_before_lockout, policy=policy
            )
            return None
        throttle.clear(session, key)
        opened = rotate_after_second_factor(
            session, staff_session=staff_session, user=user, policy=settings.security
        )
        audit.record(
            session,
            principal=_actor(user),
            action="mfa.passed",
            target_type="user",
            target_ids=[str(user.id)],
            details={"method": "totp" if code else "recovery_code"},
        )
        return _signed_in(session, user, opened, settings)


def begin_enrolment(
    store: Store, settings: Settings, *, token: str | None, csrf: str | None
) -> EnrolmentView:
    """Start (or restart) TOTP enrolment for the browser's user: a new secret and its QR code.

    A pending session may enrol only while the user has no second factor yet: one who has
    must pass it (an administrator resets a lost one).
    """
    with store.sessions.begin() as session:
        staff_session, user = _pending(session, settings, token=token, csrf=csrf)
        if user.totp_confirmed and not staff_session.mfa_passed:
            raise PermissionDenied("pass the second factor first")
        enrolment = mfa.begin_enrolment(session, store.keystore, user=user)
    return EnrolmentView(secret=enrolment.secret, uri=enrolment.uri, qr_svg=enrolment.qr_svg)


def redisplay_enrolment(secret: str, *, email: str) -> EnrolmentView | None:
    """The QR code and URI for a secret shown earlier (after a mistyped confirmation code).

    The secret comes back from the page that showed it; it is used only to draw the same QR
    code again, never to check a code (that uses the sealed copy in the database), so a
    tampered value can only spoil the tamperer's own page. ``None`` if it is not base32.
    """
    secret = secret.strip().upper()
    if not _BASE32_SECRET.match(secret):
        return None
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=mfa.ISSUER)
    qr_svg: str = segno.make(uri, error="m").svg_inline(scale=4, dark="#111827")
    return EnrolmentView(secret=secret, uri=uri, qr_svg=qr_svg)


def confirm_enrolment(
    store: Store, settings: Settings, *, token: str | None, csrf: str | None, code: str
) -> EnrolmentDone:
    """Finish enrolment with a first valid code; returns the ten recovery codes (shown once).

    The session is replaced by a new one (new id) that counts as having passed its second
    factor. A wrong code raises ``InvalidInput`` once its audit entry is committed (the
    enrolment stays in progress); ``Conflict`` if no enrolment is in progress.
    """
    failure: InvalidInput | None = None
    with store.sessions.begin() as session:
        staff_session, user = _pending(session, settings, token=token, csrf=csrf)
        try:
            codes = mfa.confirm_enrolment(
                session, store.keystore, user=user, code=code.strip()[:12]
            )
        except InvalidInput as exc:
            failure = exc  # the "mfa.failed" entry must still commit
        else:
            opened = rotate_after_second_factor(
                session, staff_session=staff_session, user=user, policy=settings.security
            )
            done = EnrolmentDone(
                recovery_codes=codes, signed_in=_signed_in(session, user, opened, settings)
            )
    if failure is not None:
        raise failure
    return done


def change_own_password(
    store: Store,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    mfa_passed: bool,
    current: str,
    new: str,
) -> SignedIn:
    """Change the signed-in user's password: every session ends, this browser gets a new one.

    Raises ``Unauthenticated`` if ``current`` is wrong and ``InvalidInput`` (saying why) if
    ``new`` breaks the password policy.
    """
    with store.sessions.begin() as session:
        user = get_user(session, str(user_id))
        change_password(
            session, user=user, current=current, new=new, ph=hasher_for(settings.security)
        )
        opened = end_all_sessions_and_reopen(
            session, user=user, mfa_passed=mfa_passed, policy=settings.security
        )
        return _signed_in(session, user, opened, settings)


def sign_out(store: Store, settings: Settings, *, token: str | None, csrf: str | None) -> None:
    """End the browser's session, at whichever sign-in step it is (CSRF-checked).

    Without a live session there is nothing to end, and that is not an error.
    """
    if not token:
        return
    with store.sessions.begin() as session:
        found = resolve_session(session, token=token, policy=settings.security)
        if found is None:
            return
        staff_session, user = found
        if not csrf_valid(staff_session, csrf):
            raise PermissionDenied("missing or wrong CSRF token")
        end_session(session, token=token)
        audit.record(
            session,
            principal=_actor(user),
            action="logout",
            target_type="user",
            target_ids=[str(user.id)],
        )


# ---- helpers ---------------------------------------------------------------------------------


def _pending(
    session: Session, settings: Settings, *, token: str | None, csrf: str | None
) -> tuple[StaffSession, User]:
    """The cookie's session even before its second factor (only for the sign-in steps)."""
    found = resolve_session(session, token=token, policy=settings.security) if token else None
    if found is None:
        raise Unauthenticated("sign in first")
    if not csrf_valid(found[0], csrf):
        raise PermissionDenied("missing or wrong CSRF token")
    return found


def _signed_in(session: Session, user: User, opened: OpenedSession, settings: Settings) -> SignedIn:
    """The session just opened, as the browser gets it: its token and what comes next."""
    staff_session = session.get(StaffSession, hash_secret(opened.token))
    assert staff_session is not None
    return SignedIn(token=opened.token, step=next_step(user, staff_session, settings))


def _mfa_throttle_key(user: User) -> str:
    return f"mfa:{user.id}"


def _actor(user: User) -> Principal:
    return Principal(kind="user", id=str(user.id))

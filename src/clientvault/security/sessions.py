"""Server-side console sessions: the cookie holds a random token, the database its hash.

A session ends after ``session_idle_minutes`` without use or ``session_absolute_hours`` after
sign-in, whichever comes first; a new token is issued at every sign-in and again once the
second factor is passed (no fixation).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clientvault.security.credentials import hash_secret, new_secret
from clientvault.security.models import StaffSession, User
from clientvault.settings import SecuritySettings
from clientvault.store.base import utcnow

COOKIE_NAME = "__Host-cv_session"


@dataclass(frozen=True)
class OpenedSession:
    """A new session: the token for the cookie and the CSRF token for forms."""

    token: str
    csrf_token: str


def start_session(
    session: Session,
    *,
    user: User,
    mfa_passed: bool,
    client_network: str | None,
    policy: SecuritySettings,
) -> OpenedSession:
    """Open a new session for a user who has just proven who they are."""
    token = new_secret()
    csrf = new_secret()
    now = utcnow()
    session.add(
        StaffSession(
            token_hash=hash_secret(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=policy.session_absolute_hours),
            mfa_passed=mfa_passed,
            client_network=client_network,
        )
    )
    user.last_login_at = now
    session.flush()
    return OpenedSession(token=token, csrf_token=csrf)


def resolve_session(
    session: Session, *, token: str, policy: SecuritySettings
) -> tuple[StaffSession, User] | None:
    """The live session and its active user for a cookie token; expired ones are removed."""
    staff_session = session.get(StaffSession, hash_secret(token))
    if staff_session is None:
        return None
    now = utcnow()
    idle = timedelta(minutes=policy.session_idle_minutes)
    user = session.get(User, staff_session.user_id)
    if (
        staff_session.expires_at <= now
        or now - staff_session.last_seen_at > idle
        or user is None
        or not user.is_active
    ):
        session.delete(staff_session)
        session.flush()
        return None
    staff_session.last_seen_at = now
    return staff_session, user


def rotate_after_second_factor(
    session: Session, *, staff_session: StaffSession, user: User, policy: SecuritySettings
) -> OpenedSession:
    """Replace a session whose second factor was just checked by a new one (new token, new
    CSRF token) that counts as having passed it.

    The token a browser held before proving its second factor is worth nothing afterwards:
    whoever planted or read it then (session fixation) does not share the full session.
    """
    opened = start_session(
        session,
        user=user,
        mfa_passed=True,
        client_network=staff_session.client_network,
        policy=policy,
    )
    session.delete(staff_session)
    session.flush()
    return opened


def csrf_valid(staff_session: StaffSession, submitted: str | None) -> bool:
    """Whether a submitted CSRF token is this session's (constant-time comparison)."""
    return submitted is not None and hmac.compare_digest(staff_session.csrf_token, submitted)


def end_session(session: Session, *, token: str) -> None:
    """End one session (logout)."""
    session.execute(delete(StaffSession).where(StaffSession.token_hash == hash_secret(token)))


def end_all_sessions_and_reopen(
    session: Session, *, user: User, mfa_passed: bool, policy: SecuritySettings
) -> OpenedSession:
    """End all of a user's sessions and open a fresh one for the browser that asked."""
    for staff_session in session.scalars(
        select(StaffSession).where(StaffSession.user_id == user.id)
    ):
        session.delete(staff_session)
    session.flush()
    return start_session(
        session, user=user, mfa_passed=mfa_passed, client_network=None, policy=policy
    )


def active_sessions(session: Session, user: User) -> list[StaffSession]:
    """A user's sessions, newest first (for "my account")."""
    return list(
        session.scalars(
            select(StaffSession)
            .where(StaffSession.user_id == user.id)
            .order_by(StaffSession.created_at.desc())
        )
    )

"""A console session's reveal window: a reason to see personal data, given once, holding for
a few minutes.

A reviewer going through the identity queue, or a support agent on a customer's page, states
why they need to see identifiers; asking again after every merge or every page taught people
to type "x". The reason is sent in a POST body (never in a URL: URLs land in browser history,
proxy and server logs), kept on the server-side session (``StaffSession.reveal_reason``) until
``reveal_window_minutes`` later, and every page shown in that window still reveals through
``security.pii.reveal`` with it, so each reveal is audited with the reason, as before. The
window belongs to one browser session: signing out, or any other session, starts without one.
Opening and closing a window are audited too.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, PermissionDenied
from clientvault.security import audit
from clientvault.security.models import StaffSession
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import SecuritySettings
from clientvault.store.base import utcnow

MIN_REASON, MAX_REASON = 3, 200


def session_row(session: Session, token_hash: str) -> StaffSession | None:
    """The staff session with this token hash, in ``session`` (where its window is kept)."""
    return session.get(StaffSession, token_hash)


def open_window(
    session: Session,
    *,
    staff_session: StaffSession,
    principal: Principal,
    reason: str,
    policy: SecuritySettings,
) -> None:
    """Let this browser session see personal data for ``reason`` for the next minutes.

    ``PermissionDenied`` without ``pii:reveal``; ``InvalidInput`` for a reason shorter than
    3 or longer than 200 characters (once trimmed).
    """
    if not principal.can(PII_REVEAL):
        raise PermissionDenied(f"this needs the {PII_REVEAL} permission")
    reason = reason.strip()
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise InvalidInput(
            f"a reason is {MIN_REASON} to {MAX_REASON} characters", details={"field": "reason"}
        )
    staff_session.reveal_reason = reason
    staff_session.reveal_until = utcnow() + timedelta(minutes=policy.reveal_window_minutes)
    audit.record(
        session,
        principal=principal,
        action="pii.reveal_window_opened",
        target_type="user",
        target_ids=[principal.id],
        reason=reason,
        details={"minutes": policy.reveal_window_minutes},
    )


def close_window(session: Session, *, staff_session: StaffSession, principal: Principal) -> None:
    """End this session's window now (the "hide" button); nothing to do if none is open."""
    if staff_session.reveal_reason is None:
        return
    staff_session.reveal_reason = None
    staff_session.reveal_until = None
    audit.record(
        session,
        principal=principal,
        action="pii.reveal_window_closed",
        target_type="user",
        target_ids=[principal.id],
    )


def current_reason(staff_session: StaffSession | None, principal: Principal) -> str | None:
    """The reason this session's pages reveal with, while its window lasts (else ``None``).

    ``None`` also for an API token (no session) and for a principal who lost ``pii:reveal``
    since the window opened (a role change takes effect at once)."""
    if staff_session is None or staff_session.reveal_reason is None:
        return None
    until = staff_session.reveal_until
    if until is None or until <= utcnow() or not principal.can(PII_REVEAL):
        return None
    return staff_session.reveal_reason

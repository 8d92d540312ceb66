"""Throttling authentication: lock an account, or block a client network, after repeated
failures within a window, for a while. Kept in the database so every process agrees."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from clientvault.errors import RateLimited
from clientvault.security.models import LoginThrottle
from clientvault.settings import SecuritySettings
from clientvault.store.base import utcnow


def account_key(email: str) -> str:
    """The throttle key of an account name (hashed: the table holds no e-mail)."""
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]


def network_key(client: str | None) -> str:
    """The throttle key of a client address."""
    return f"net:{client or 'unknown'}"


def ensure_allowed(session: Session, keys: list[str]) -> None:
    """Raise ``RateLimited`` if any of these keys is locked now."""
    now = utcnow()
    for key in keys:
        throttle = session.get(LoginThrottle, key)
        if throttle is not None and throttle.locked_until and throttle.locked_until > now:
            retry = int((throttle.locked_until - now).total_seconds()) + 1
            raise RateLimited(
                "too many failed attempts; try again later", details={"retry_after": retry}
            )


def record_failure(session: Session, key: str, *, limit: int, policy: SecuritySettings) -> None:
    """Count a failure; reaching ``limit`` within the window locks the key for a while."""
    now = utcnow()
    throttle = session.get(LoginThrottle, key)
    window = timedelta(minutes=policy.failure_window_minutes)
    if throttle is None:
        throttle = LoginThrottle(key=key, failures=0, window_started_at=now)
        session.add(throttle)
    elif now - throttle.window_started_at > window:
        throttle.failures, throttle.window_started_at = 0, now
    throttle.failures += 1
    if throttle.failures >= limit:
        throttle.locked_until = now + timedelta(minutes=policy.lockout_minutes)
    session.flush()


def clear(session: Session, key: str) -> None:
    """Forget an account's failures after a successful sign-in."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))

"""Throttling authentication: lock an account for one network, or block a client network,
after repeated failures within a window, for a while. Kept in the database so every process
agrees.

Password sign-in counts failures three ways (``security.accounts.sign_in``):

- per account *and* network (``pair_key``): a few wrong passwords lock that account for that
  network only, so an attacker's guesses do not lock its owner out from their own network;
- per network (``network_key``): one network failing on many accounts is blocked;
- per account from anywhere (``account_key``), with a higher limit: the slower global
  back-off that bounds a brute force spread over many networks. Once reached, the account
  answers only from networks it has signed in from before (``known_network``).

A network is a client's address, or its /64 for IPv6, where one host holds a whole prefix.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clientvault.errors import RateLimited
from clientvault.security.models import AuditEntry, LoginThrottle
from clientvault.settings import SecuritySettings
from clientvault.store.base import utcnow

#: How many recent successful sign-ins of an account are searched for a known network.
KNOWN_SIGN_INS = 50
_IPV6_PREFIX = 64


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:40]


def network_of(client: str | None) -> str:
    """The network a client address belongs to: the address itself, or its /64 for IPv6."""
    try:
        address = ipaddress.ip_address((client or "").strip())
    except ValueError:
        return client or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{_IPV6_PREFIX}", strict=False))
    return str(address)


def account_key(email: str) -> str:
    """The throttle key of an account name (hashed: the table holds no e-mail)."""
    return "account:" + _digest(email.strip().lower())


def pair_key(email: str, client: str | None) -> str:
    """The throttle key of an account name tried from one network (hashed together)."""
    return "pair:" + _digest(f"{email.strip().lower()}\x00{network_of(client)}")


def network_key(client: str | None) -> str:
    """The throttle key of a client network."""
    return f"net:{network_of(client)}"


def ensure_allowed(session: Session, keys: list[str]) -> None:
    """Raise ``RateLimited`` if any of these keys is locked now."""
    now = utcnow()
    for key in keys:
        retry = _locked_for(session, key, now)
        if retry:
            raise RateLimited(
                "too many failed attempts; try again later", details={"retry_after": retry}
            )


def _locked_for(session: Session, key: str, now: datetime) -> int:
    """Seconds until ``key`` is unlocked (0 when it is not locked)."""
    throttle = session.get(LoginThrottle, key)
    if throttle is None or throttle.locked_until is None or throttle.locked_until <= now:
        return 0
    return int((throttle.locked_until - now).total_seconds()) + 1


def known_network(session: Session, *, user_id: str, client: str | None) -> bool:
    """Whether the account signed in successfully from this network recently (read from the
    audit log's ``login.succeeded`` entries, which record the network)."""
    wanted = network_of(client)
    recent = session.scalars(
        select(AuditEntry.details)
        .where(AuditEntry.action == "login.succeeded", AuditEntry.target_id == user_id)
        .order_by(AuditEntry.id.desc())
        .limit(KNOWN_SIGN_INS)
    )
    return any(network_of(details.get("network")) == wanted for details in recent)


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
    """Forget a key's failures after a successful sign-in."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))

"""Signed links to a customer: identity verification of a request, and the preference centre.

A link carries 32 random bytes (URL-safe base64). The database keeps only their HMAC-SHA256
under the link key — ``privacy.link_secret`` when set, otherwise a key derived from the key
file's index key, so neither a copy of the database nor the repository is enough to make or
recognise a link. A token is valid only for its purpose, until it expires; a verification
token is consumed by its first use. Every failure gives the same answer, so a caller learns
nothing about which check failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from clientvault.errors import Unauthenticated
from clientvault.privacy.requests.models import LINK_PURPOSES, LinkToken
from clientvault.settings import PrivacySettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

TOKEN_BYTES = 32
#: What any invalid, used, expired or foreign token gets.
INVALID_LINK = "this link is not valid (it may have expired or been used already)"


@dataclass(frozen=True)
class LinkGrant:
    """What a valid link lets its holder act on: one customer (and, maybe, one request)."""

    customer_id: uuid.UUID
    request_id: uuid.UUID | None
    expires_at: datetime


def link_key(store: Store, policy: PrivacySettings) -> bytes:
    """The HMAC key of link tokens: the configured secret, or one derived from the key file."""
    if policy.link_secret is not None:
        return policy.link_secret.get_secret_value().encode("utf-8")
    return hmac.new(
        store.keystore.material.index_key, b"clientvault/privacy-links/v1", hashlib.sha256
    ).digest()


def token_hash(key: bytes, token: str) -> bytes:
    """The stored form of a token: its HMAC under the link key."""
    return hmac.new(key, token.encode("ascii", "replace"), hashlib.sha256).digest()


def issue(
    session: Session,
    *,
    key: bytes,
    purpose: str,
    customer_id: uuid.UUID,
    lifetime: timedelta,
    request_id: uuid.UUID | None = None,
) -> str:
    """A new token for ``purpose`` (stored hashed, in the caller's transaction)."""
    if purpose not in LINK_PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()
    session.add(
        LinkToken(
            token_hash=token_hash(key, token),
            purpose=purpose,
            customer_id=customer_id,
            request_id=request_id,
            expires_at=utcnow() + lifetime,
        )
    )
    session.flush()
    return token


def check(session: Session, *, key: bytes, purpose: str, token: str) -> LinkGrant:
    """What a token grants, without using it up; ``Unauthenticated`` if it grants nothing."""
    found = _find(session, key=key, purpose=purpose, token=token)
    return LinkGrant(found.customer_id, found.request_id, found.expires_at)


def consume(session: Session, *, key: bytes, purpose: str, token: str) -> LinkGrant:
    """Use a single-use token: valid once, atomically (a concurrent second use fails)."""
    found = _find(session, key=key, purpose=purpose, token=token)
    now = utcnow()
    used = session.execute(
        update(LinkToken)
        .where(LinkToken.id == found.id, LinkToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise Unauthenticated(INVALID_LINK)
    return LinkGrant(found.customer_id, found.request_id, found.expires_at)


def purge_expired(session: Session, *, before: datetime) -> int:
    """Delete links that expired before ``before``; returns how many. (An expired link and
    an unknown one get the same answer, so nothing is lost by forgetting it.)"""
    result = session.execute(delete(LinkToken).where(LinkToken.expires_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def _find(session: Session, *, key: bytes, purpose: str, token: str) -> LinkToken:
    if not token or len(token) > 100:
        raise Unauthenticated(INVALID_LINK)
    found = session.scalar(select(LinkToken).where(LinkToken.token_hash == token_hash(key, token)))
    if (
        found is None
        or found.purpose != purpose
        or found.used_at is not None
        or found.expires_at <= utcnow()
    ):
        raise Unauthenticated(INVALID_LINK)
    return found

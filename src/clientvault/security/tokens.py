"""API tokens: bearer tokens with scopes and an expiry, stored hashed and shown once.

A token's principal has the permissions of its owner's role *and* of its scopes, so a token
can only narrow what its owner may do, and stops working when the owner is disabled.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound
from clientvault.security import audit
from clientvault.security.accounts import permissions_of
from clientvault.security.models import ApiToken, User
from clientvault.security.permissions import unknown_permissions
from clientvault.security.principal import Principal
from clientvault.settings import SecuritySettings
from clientvault.store.base import utcnow

PREFIX = "cvat_"


@dataclass(frozen=True)
class IssuedToken:
    """A new token: its id, and its secret value, shown this once."""

    token: ApiToken
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    *,
    user: User,
    name: str,
    scopes: set[str],
    days: int,
    policy: SecuritySettings,
) -> IssuedToken:
    """Issue a token for ``user`` with these scopes (a subset of the catalogue)."""
    unknown = unknown_permissions(scopes)
    if unknown:
        raise InvalidInput(
            f"unknown scopes: {', '.join(sorted(unknown))}", details={"field": "scopes"}
        )
    if not scopes:
        raise InvalidInput("a token needs at least one scope", details={"field": "scopes"})
    if not 1 <= days <= policy.api_token_max_days:
        raise InvalidInput(
            f"a token lives 1 to {policy.api_token_max_days} days", details={"field": "days"}
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:64] or "token",
        token_hash=_hash(secret),
        scopes=sorted(scopes),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        principal=Principal(kind="user", id=str(user.id)),
        action="token.issued",
        target_type="token",
        target_ids=[str(token.id)],
        details={"scopes": sorted(scopes)},
    )
    return IssuedToken(token=token, secret=secret)


def principal_for_token(session: Session, *, secret: str) -> Principal | None:
    """The principal a bearer token acts as, or ``None`` if unknown, expired or revoked."""
    if not secret.startswith(PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    token.last_used_at = now
    allowed = permissions_of(session, user.role) & frozenset(token.scopes)
    return Principal.user(user.id, role=user.role, permissions=allowed)


def revoke_token(session: Session, *, user: User, token_id: str) -> None:
    """Revoke one of the user's tokens at once."""
    try:
        wanted = uuid.UUID(token_id)
    except ValueError:
        raise NotFound("no such token") from None
    token = session.scalar(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.id == wanted)
    )
    if token is None:
        raise NotFound("no such token")
    token.revoked_at = token.revoked_at or utcnow()
    audit.record(
        session,
        principal=Principal(kind="user", id=str(user.id)),
        action="token.revoked",
        target_type="token",
        target_ids=[str(token.id)],
    )

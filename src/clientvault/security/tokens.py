"""API tokens: bearer tokens with scopes and an expiry, stored hashed and shown once.

A token's principal has the permissions of its owner's role *and* of its scopes, so a token
can only narrow what its owner may do, and stops working when the owner is disabled.

Who may create one (``issue_token``), so that a leaked token cannot widen or renew itself:

- a browser session that passed a second factor within ``token_session_fresh_minutes``:
  the user has MFA set up and has just proven it, not merely holds an old cookie;
- an API token only if it carries the ``tokens:create`` scope, and then only a token whose
  scopes are a subset of its own, expiring no later than itself (its expiry is capped);
- never a token wider than its maker's permissions, nor than its owner's role.

When the owner's role changes (or their custom role is redefined), their tokens are narrowed
to the new role's permissions, and revoked when nothing is left (``accounts.narrow_tokens``):
a later widening of the role does not widen them again. Resetting the owner's second factor, or
disabling the account, revokes every token (``accounts.revoke_tokens``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound, PermissionDenied
from clientvault.security import audit
from clientvault.security.accounts import permissions_of
from clientvault.security.credentials import hash_secret, new_secret
from clientvault.security.models import ApiToken, StaffSession, User
from clientvault.security.permissions import unknown_permissions
from clientvault.security.principal import Principal
from clientvault.settings import SecuritySettings
from clientvault.store.base import utcnow

PREFIX = "cvat_"
#: The scope that lets an API token create (narrower, shorter-lived) tokens.
TOKENS_CREATE = "tokens:create"


@dataclass(frozen=True)
class IssuedToken:
    """A new token: its id, and its secret value, shown this once."""

    token: ApiToken
    secret: str


@dataclass(frozen=True)
class Maker:
    """Who asks for a new token and through what: a browser session or an API token
    (``principal.token_id``). A system principal (set-up, tests) has neither."""

    principal: Principal
    staff_session: StaffSession | None = None


def issue_token(
    session: Session,
    *,
    user: User,
    name: str,
    scopes: set[str],
    days: int,
    policy: SecuritySettings,
    by: Maker,
) -> IssuedToken:
    """Issue a token for ``user`` with these scopes, if ``by`` may (see the module's rules).

    ``InvalidInput`` for unknown scopes, no scope or a lifetime out of bounds;
    ``PermissionDenied`` when the maker may not create this token, saying why.
    """
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
    _refuse_wider(scopes, permissions_of(session, user.role), "the account's role")
    expires_at = _check_maker(session, by, scopes=scopes, policy=policy, days=days)
    secret = new_secret(PREFIX)
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:64] or "token",
        token_hash=hash_secret(secret),
        scopes=sorted(scopes),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    details: dict[str, object] = {"scopes": sorted(scopes)}
    if by.principal.token_id is not None:
        details["made_with_token"] = str(by.principal.token_id)
    audit.record(
        session,
        principal=by.principal,
        action="token.issued",
        target_type="token",
        target_ids=[str(token.id)],
        details=details,
    )
    return IssuedToken(token=token, secret=secret)


def _check_maker(
    session: Session, by: Maker, *, scopes: set[str], policy: SecuritySettings, days: int
) -> datetime:
    """Refuse a maker who may not create this token; the new token's expiry otherwise."""
    principal = by.principal
    expires_at = utcnow() + timedelta(days=days)
    if principal.kind == "system":
        return expires_at
    if principal.token_id is not None:
        parent = session.get(ApiToken, principal.token_id)
        if parent is None or not principal.can(TOKENS_CREATE):
            raise PermissionDenied(
                f"an API token creates tokens only with the {TOKENS_CREATE} scope; "
                "otherwise create tokens from a signed-in session"
            )
        _refuse_wider(scopes, principal.permissions, "the token used")
        return min(expires_at, parent.expires_at)  # never outlives its maker: no renewal
    staff_session = by.staff_session
    if staff_session is None or not staff_session.mfa_passed:
        raise PermissionDenied("API tokens are created from a session that passed a second factor")
    user = session.get(User, staff_session.user_id)
    if user is None or not user.totp_confirmed:
        raise PermissionDenied("set up a second factor first: API tokens need one")
    fresh = timedelta(minutes=policy.token_session_fresh_minutes)
    if utcnow() - staff_session.created_at > fresh:
        raise PermissionDenied(
            f"sign in again: API tokens are created within {policy.token_session_fresh_minutes} "
            "minutes of passing the second factor"
        )
    _refuse_wider(scopes, principal.permissions, "your permissions")
    return expires_at


def _refuse_wider(scopes: set[str], allowed: frozenset[str], whose: str) -> None:
    beyond = scopes - allowed
    if beyond:
        raise PermissionDenied(
            f"scopes beyond {whose}: {', '.join(sorted(beyond))}", details={"field": "scopes"}
        )


def principal_for_token(session: Session, *, secret: str) -> Principal | None:
    """The principal a bearer token acts as, or ``None`` if unknown, expired or revoked."""
    if not secret.startswith(PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    token.last_used_at = now
    allowed = permissions_of(session, user.role) & frozenset(token.scopes)
    return Principal.user(user.id, role=user.role, permissions=allowed, token_id=token.id)


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


@dataclass(frozen=True)
class TokenListing:
    """A token as an administrator's list shows it (never its secret, which is not kept)."""

    token: ApiToken
    owner_email: str
    state: str  # "active", "expired" or "revoked"


def list_tokens(
    session: Session, *, limit: int = 100, before: uuid.UUID | None = None
) -> list[TokenListing]:
    """Every API token of the installation, newest first (ids are time-ordered UUIDv7), a
    page of ``limit`` at a time (``before``: the last id of the previous page)."""
    query = (
        select(ApiToken, User.email)
        .join(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(ApiToken.id < before)
    now = utcnow()
    return [
        TokenListing(token=token, owner_email=email, state=_state(token, now))
        for token, email in session.execute(query)
    ]


def tokens_of(session: Session, user: User) -> list[TokenListing]:
    """One account's own API tokens, newest first, with their state (the "my account" page:
    a person sees and revokes their tokens without ``tokens:manage``)."""
    now = utcnow()
    return [
        TokenListing(token=token, owner_email=user.email, state=_state(token, now))
        for token in session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
        )
    ]


def _state(token: ApiToken, now: datetime) -> str:
    """``revoked``, ``expired`` or ``active``, as the token lists show it."""
    if token.revoked_at:
        return "revoked"
    return "expired" if token.expires_at <= now else "active"


def revoke_any_token(session: Session, *, token_id: uuid.UUID, principal: Principal) -> None:
    """Revoke anyone's token at once (an administrator's act, audited with who did it):
    a token found in a log or a repository is stopped without its owner."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            principal=principal,
            action="token.revoked",
            target_type="token",
            target_ids=[str(token.id)],
            details={"owner": str(token.user_id)},
        )

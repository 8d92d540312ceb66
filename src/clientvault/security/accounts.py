"""Staff accounts: roles, creation, sign-in with throttling, password changes, disabling.

Sign-in answers the same way, after the same work, whether the account is unknown, disabled
or the password wrong, so that nobody can find out which accounts exist.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from clientvault.security import audit, throttle
from clientvault.security.models import ApiToken, Role, StaffSession, User
from clientvault.security.passwords import check_policy, hash_password, verify_password
from clientvault.security.permissions import BUILTIN_ROLES, PERMISSIONS, unknown_permissions
from clientvault.security.principal import Principal
from clientvault.settings import SecuritySettings
from clientvault.store.base import utcnow

SIGN_IN_FAILED = "the e-mail or password is not right"
_ROLE_NAME = re.compile(r"[a-z0-9_-]{1,32}")


@dataclass(frozen=True)
class NewUser:
    """A created account and, when none was chosen, its one-time password (shown once)."""

    user: User
    one_time_password: str | None


def ensure_builtin_roles(session: Session) -> None:
    """Create or refresh the built-in roles (run at init and after every migration)."""
    for name, permissions in BUILTIN_ROLES.items():
        role = session.get(Role, name)
        if role is None:
            role = Role(name=name, builtin=True)
            session.add(role)
        role.permissions = sorted(permissions)
        role.description = f"built-in {name} role"
    session.flush()


def define_role(
    session: Session, *, name: str, permissions: set[str], description: str, by: Principal
) -> Role:
    """Create or change a custom role (built-in roles are fixed); its members' API tokens are
    narrowed to the new permissions."""
    if not _ROLE_NAME.fullmatch(name):
        raise InvalidInput(
            "a role name is 1 to 32 lower-case letters, digits, '-' or '_'",
            details={"field": "name"},
        )
    unknown = unknown_permissions(permissions)
    if unknown:
        raise InvalidInput(f"unknown permissions: {', '.join(sorted(unknown))}")
    role = session.get(Role, name)
    if role is not None and role.builtin:
        raise Conflict(f"{name!r} is a built-in role and cannot be changed")
    if role is None:
        role = Role(name=name, builtin=False)
        session.add(role)
    role.permissions, role.description = sorted(permissions), description
    members = list(session.scalars(select(User.id).where(User.role == name)))
    narrow_tokens(session, user_ids=members, permissions=frozenset(permissions), by=by)
    audit.record(
        session,
        principal=by,
        action="role.defined",
        target_type="role",
        target_ids=[name],
        details={"permissions": sorted(permissions)},
    )
    return role


def permissions_of(session: Session, role_name: str) -> frozenset[str]:
    """The permissions a role grants (none for an unknown role)."""
    role = session.get(Role, role_name)
    return frozenset(role.permissions) & frozenset(PERMISSIONS) if role else frozenset()


def principal_for(session: Session, user: User) -> Principal:
    """The principal acting for a signed-in user."""
    return Principal.user(user.id, role=user.role, permissions=permissions_of(session, user.role))


def create_user(
    session: Session,
    *,
    email: str,
    display_name: str,
    role: str,
    ph: PasswordHasher,
    by: Principal,
    password: str | None = None,
) -> NewUser:
    """Create an account; without a password, a one-time one that must be changed at once."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise InvalidInput("an e-mail address is required", details={"field": "email"})
    if session.get(Role, role) is None:
        raise InvalidInput(f"unknown role {role!r}", details={"field": "role"})
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("an account with this e-mail exists already")
    one_time = None
    if password is None:
        password = one_time = secrets.token_urlsafe(18)
    else:
        check_policy(password, user_inputs=[email, display_name])
    user = User(
        email=email,
        display_name=display_name.strip() or email,
        role=role,
        password_hash=hash_password(password, ph),
        must_change_password=one_time is not None,
        is_active=True,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        principal=by,
        action="user.created",
        target_type="user",
        target_ids=[str(user.id)],
        details={"role": role},
    )
    return NewUser(user=user, one_time_password=one_time)


def create_first_admin(session: Session, *, email: str, ph: PasswordHasher) -> NewUser | None:
    """The installation's first administrator, with a one-time password to change at first
    sign-in; ``None`` if accounts exist already."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    return create_user(
        session,
        email=email,
        display_name="Administrator",
        role="admin",
        ph=ph,
        by=Principal.system("init"),
    )


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    client: str | None,
    ph: PasswordHasher,
    policy: SecuritySettings,
) -> User:
    """Check a password sign-in; failures are throttled per account and network, per network,
    and per account from anywhere (see ``security.throttle``).

    The caller must commit even when this raises ``Unauthenticated``: the failure counts and
    the audit entry are part of the answer.
    """
    pair, network = throttle.pair_key(email, client), throttle.network_key(client)
    account = throttle.account_key(email)
    throttle.ensure_allowed(session, [pair, network])
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not throttle.known_network(session, user_id=str(user.id), client=client):
        throttle.ensure_allowed(session, [account])  # the global back-off spares known networks
    valid = verify_password(user.password_hash if user else None, password, ph)
    if user is None or not valid or not user.is_active:
        for key, limit in (
            (pair, policy.account_failures_before_lockout),
            (network, policy.network_failures_before_block),
            (account, policy.account_failures_before_backoff),
        ):
            throttle.record_failure(session, key, limit=limit, policy=policy)
        audit.record(
            session,
            principal=Principal(kind="user", id=str(user.id) if user else "unknown"),
            action="login.failed",
            details={"network": client or "unknown"},
        )
        raise Unauthenticated(SIGN_IN_FAILED)
    throttle.clear(session, pair)
    if ph.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password, ph)
    return user


def change_password(
    session: Session, *, user: User, current: str, new: str, ph: PasswordHasher
) -> None:
    """Change a password after checking the current one; ends every session of the user."""
    if not verify_password(user.password_hash, current, ph):
        raise Unauthenticated("the current password is not right")
    if verify_password(user.password_hash, new, ph):
        raise InvalidInput(
            "the new password must differ from the current one", details={"field": "password"}
        )
    check_policy(new, user_inputs=[user.email, user.display_name])
    user.password_hash = hash_password(new, ph)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    end_all_sessions(session, user)
    audit.record(
        session,
        principal=Principal(kind="user", id=str(user.id)),
        action="password.changed",
        target_type="user",
        target_ids=[str(user.id)],
    )


def set_active(session: Session, *, user_id: str, active: bool, by: Principal) -> User:
    """Disable (ending sessions and tokens) or re-enable an account."""
    user = get_user(session, user_id)
    user.is_active = active
    if not active:
        end_all_sessions(session, user)
        revoke_tokens(session, user=user, by=by, reason="user.disabled")
    audit.record(
        session,
        principal=by,
        action="user.enabled" if active else "user.disabled",
        target_type="user",
        target_ids=[str(user.id)],
    )
    return user


def assign_role(session: Session, *, user_id: str, role: str, by: Principal) -> User:
    """Give an account another role; its sessions end so the change applies at once, and its
    API tokens are narrowed to the new role (revoked when nothing of them is left)."""
    user = get_user(session, user_id)
    if session.get(Role, role) is None:
        raise InvalidInput(f"unknown role {role!r}", details={"field": "role"})
    previous, user.role = user.role, role
    end_all_sessions(session, user)
    narrow_tokens(session, user_ids=[user.id], permissions=permissions_of(session, role), by=by)
    audit.record(
        session,
        principal=by,
        action="user.role_changed",
        target_type="user",
        target_ids=[str(user.id)],
        details={"from": previous, "to": role},
    )
    return user


def narrow_tokens(
    session: Session, *, user_ids: list[uuid.UUID], permissions: frozenset[str], by: Principal
) -> None:
    """Cut the live API tokens of these users down to ``permissions``; revoke those left with
    no scope. Stored, not only applied at use, so that widening the role again later does not
    bring back what a token lost."""
    if not user_ids:
        return
    live = select(ApiToken).where(ApiToken.user_id.in_(user_ids), ApiToken.revoked_at.is_(None))
    for token in session.scalars(live):
        kept = sorted(set(token.scopes) & permissions)
        if kept == sorted(token.scopes):
            continue
        if kept:
            token.scopes = kept
        else:
            token.revoked_at = utcnow()
        audit.record(
            session,
            principal=by,
            action="token.narrowed" if kept else "token.revoked",
            target_type="token",
            target_ids=[str(token.id)],
            details={"scopes": kept, "reason": "role.changed"},
        )


def revoke_tokens(session: Session, *, user: User, by: Principal, reason: str) -> None:
    """Revoke every live API token of a user (account disabled, second factor reset)."""
    live = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    for token in session.scalars(live):
        token.revoked_at = utcnow()
        audit.record(
            session,
            principal=by,
            action="token.revoked",
            target_type="token",
            target_ids=[str(token.id)],
            details={"reason": reason},
        )


def get_user(session: Session, user_id: str) -> User:
    """An account by id, or ``NotFound``."""
    try:
        user = session.scalar(select(User).where(User.id == _uuid(user_id)))
    except ValueError:
        user = None
    if user is None:
        raise NotFound("no such user")
    return user


def user_by_email(session: Session, email: str) -> User:
    """An account by its sign-in e-mail (any case, spaces around ignored), or ``NotFound``
    (the CLI names staff by e-mail)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound("no member of staff with this e-mail")
    return user


def list_users(session: Session) -> list[User]:
    """Every account, oldest first."""
    return list(session.scalars(select(User).order_by(User.created_at)))


def list_roles(session: Session, *, builtin_first: bool = False) -> list[Role]:
    """Every role by name (the built-in ones first when ``builtin_first``: the console's
    table shows them above the custom ones)."""
    order = (Role.builtin.desc(), Role.name) if builtin_first else (Role.name,)
    return list(session.scalars(select(Role).order_by(*order)))


def display_names(session: Session, actor_ids: set[str]) -> dict[str, str]:
    """The display names of the staff accounts among ``actor_ids``, by id as a string.

    Ids that are not account ids (``anonymous``, ``unknown``, a job's name) are passed over."""
    ids = []
    for actor_id in actor_ids:
        try:
            ids.append(uuid.UUID(actor_id))
        except ValueError:
            continue  # "anonymous", "unknown", a job's name
    if not ids:
        return {}
    found = session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {str(user_id): name for user_id, name in found}


def end_all_sessions(session: Session, user: User) -> None:
    """End every session of a user (logout everywhere, password change, disable, MFA reset)."""
    for staff_session in session.scalars(
        select(StaffSession).where(StaffSession.user_id == user.id)
    ):
        session.delete(staff_session)
    session.flush()


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)

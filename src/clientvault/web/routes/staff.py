"""Users and roles (``/console/security/users``), for administrators.

The page lists staff accounts and lets an administrator create one (its one-time password is
shown on the answering page only), disable or re-enable it, reset its second factor
(``users:manage``) and change its role; it also lists the roles with their permissions and
defines custom roles (``roles:manage``). Every action is its own POST behind its own
``Authorize``; the page only hides the forms the user's role could not use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.security import mfa
from clientvault.security.accounts import (
    assign_role,
    create_user,
    define_role,
    get_user,
    list_roles,
    list_users,
    set_active,
)
from clientvault.security.models import User
from clientvault.security.passwords import hasher_for
from clientvault.security.permissions import MFA_REQUIRED_ROLES, PERMISSIONS
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/security", include_in_schema=False)
ManageUsers = Annotated[Caller, Depends(Authorize("users:manage"))]
ManageRoles = Annotated[Caller, Depends(Authorize("roles:manage"))]

USERS_PATH = f"{CONSOLE_PREFIX}/security/users"
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
#: Notices shown after a redirect back to the page (``?done=...``).
NOTICES = {
    "disabled": "The account was disabled; its sessions and API tokens ended.",
    "enabled": "The account was enabled again.",
    "mfa-reset": "Two-factor authentication was reset; the user sets it up at next sign-in.",
    "role": "The role was changed; the user's sessions ended so that it applies at once.",
    "role-defined": "The role was saved.",
}


@dataclass(frozen=True)
class NewAccount:
    """The account just created and its one-time password, shown on this answer only."""

    email: str
    one_time_password: str


@dataclass(frozen=True)
class UserForm:
    """What was typed in the "new user" form (kept when it must be corrected)."""

    email: str = ""
    display_name: str = ""
    role: str = "analyst"


@dataclass(frozen=True)
class RoleForm:
    """What was typed in the "custom role" form (kept when it must be corrected)."""

    name: str = ""
    description: str = ""
    permissions: tuple[str, ...] = ()


def _page(
    request: Request,
    caller: Caller,
    session: Session,
    *,
    notice: str | None = None,
    user_error: str | None = None,
    role_error: str | None = None,
    created: NewAccount | None = None,
    user_form: UserForm | None = None,
    role_form: RoleForm | None = None,
    status_code: int = 200,
) -> Response:
    roles = list_roles(session, builtin_first=True)
    return render(
        request,
        "security/users.html",
        {
            "title": "Users & roles",
            # Re-shown after a role error to a caller who may manage roles but not users:
            # then without the accounts.
            "users": list_users(session) if caller.principal.can("users:manage") else [],
            "roles": roles,
            "permissions": list(PERMISSIONS.items()),
            "mfa_roles": MFA_REQUIRED_ROLES,
            "me": caller.principal.id,
            "can_manage_roles": caller.principal.can("roles:manage"),
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
            "notice": notice,
            "user_error": user_error,
            "role_error": role_error,
            "created": created,
            "user_form": user_form or UserForm(),
            "role_form": role_form or RoleForm(),
        },
        status_code=status_code,
    )


def _back(done: str) -> RedirectResponse:
    return RedirectResponse(f"{USERS_PATH}?done={done}", status_code=303)


@router.get("/users", response_class=HTMLResponse, name="console_users")
def users(
    request: Request,
    caller: ManageUsers,
    store: StoreDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Staff accounts, roles and their permissions."""
    with store.read_sessions() as session, session.begin():
        return _page(request, caller, session, notice=NOTICES.get(done or ""))


@router.post("/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    caller: ManageUsers,
    store: StoreDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Create an account with a one-time password, shown on this answer only."""
    form = UserForm(email=email, display_name=display_name, role=role)
    created, error, status = None, None, 200
    try:
        with store.sessions.begin() as session:
            new = create_user(
                session,
                email=email,
                display_name=display_name,
                role=role,
                ph=hasher_for(settings.security),
                by=caller.principal,
            )
            assert new.one_time_password is not None
            created = NewAccount(email=new.user.email, one_time_password=new.one_time_password)
    except InvalidInput as exc:
        error, status = exc.message, 422
    except Conflict as exc:
        error, status = exc.message, 409
    with store.read_sessions() as session, session.begin():
        return _page(
            request,
            caller,
            session,
            created=created,
            user_error=error,
            user_form=form if error else None,
            status_code=status,
        )


@router.post("/users/{user_id}/disable")
def disable_user(user_id: str, caller: ManageUsers, store: StoreDep) -> RedirectResponse:
    """Disable an account: its sessions and API tokens end at once."""
    with store.sessions.begin() as session:
        set_active(session, user_id=user_id, active=False, by=caller.principal)
    return _back("disabled")


@router.post("/users/{user_id}/enable")
def enable_user(user_id: str, caller: ManageUsers, store: StoreDep) -> RedirectResponse:
    """Re-enable a disabled account."""
    with store.sessions.begin() as session:
        set_active(session, user_id=user_id, active=True, by=caller.principal)
    return _back("enabled")


@router.post("/users/{user_id}/mfa-reset")
def reset_mfa(user_id: str, caller: ManageUsers, store: StoreDep) -> RedirectResponse:
    """Remove an account's second factor; they set it up again at next sign-in."""
    with store.sessions.begin() as session:
        user: User = get_user(session, user_id)
        mfa.reset(session, user=user, by=caller.principal)
    return _back("mfa-reset")


@router.post("/users/{user_id}/role")
def change_role(
    user_id: str,
    caller: ManageRoles,
    store: StoreDep,
    role: Annotated[str, Form(max_length=32)] = "",
) -> RedirectResponse:
    """Give an account another role (its sessions end so that it applies at once)."""
    with store.sessions.begin() as session:
        assign_role(session, user_id=user_id, role=role, by=caller.principal)
    return _back("role")


@router.post("/roles", response_class=HTMLResponse)
def save_role(
    request: Request,
    caller: ManageRoles,
    store: StoreDep,
    name: Annotated[str, Form(max_length=64)] = "",
    description: Annotated[str, Form(max_length=200)] = "",
    permissions: Annotated[list[str] | None, Form(max_length=64)] = None,
) -> Response:
    """Create or change a custom role (built-in roles are fixed)."""
    chosen = tuple(sorted(set(permissions or ())))
    name = name.strip().lower()
    error, status = None, 422
    try:
        if not ROLE_NAME.match(name):
            raise InvalidInput(
                "a role name is 2 to 32 lower-case letters, digits, '-' or '_', "
                "starting with a letter",
                details={"field": "name"},
            )
        if not chosen:
            raise InvalidInput("choose at least one permission", details={"field": "permissions"})
        with store.sessions.begin() as session:
            define_role(
                session,
                name=name,
                permissions=set(chosen),
                description=description.strip(),
                by=caller.principal,
            )
    except InvalidInput as exc:
        error = exc.message
    except Conflict as exc:
        error, status = exc.message, 409
    if error is None:
        return _back("role-defined")
    with store.read_sessions() as session, session.begin():
        return _page(
            request,
            caller,
            session,
            role_error=error,
            role_form=RoleForm(name=name, description=description, permissions=chosen),
            status_code=status,
        )

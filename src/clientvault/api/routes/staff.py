"""Staff accounts and roles, for administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import get_store
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
from clientvault.security.passwords import hasher_for
from clientvault.security.schemas import RoleChange, RoleDefinition, RoleRead, UserCreate, UserRead

router = APIRouter(prefix="/api/v1", tags=["staff"])
ManageUsers = Annotated[Caller, Depends(Authorize("users:manage"))]
ManageRoles = Annotated[Caller, Depends(Authorize("roles:manage"))]


@router.get("/users", response_model=list[UserRead])
def users(request: Request, caller: ManageUsers) -> list[UserRead]:
    """Every staff account."""
    with get_store(request).read_sessions() as session:
        return [UserRead.model_validate(user) for user in list_users(session)]


@router.post("/users", status_code=201)
def add_user(body: UserCreate, request: Request, caller: ManageUsers) -> dict[str, Any]:
    """Create an account; its one-time password is in this answer only."""
    settings = request.app.state.settings
    with get_store(request).sessions.begin() as session:
        created = create_user(
            session,
            email=body.email,
            display_name=body.display_name,
            role=body.role,
            ph=hasher_for(settings.security),
            by=caller.principal,
        )
        return {
            "user": UserRead.model_validate(created.user).model_dump(mode="json"),
            "one_time_password": created.one_time_password,
        }


@router.post("/users/{user_id}/disable", response_model=UserRead)
def disable_user(user_id: str, request: Request, caller: ManageUsers) -> UserRead:
    """Disable an account: its sessions and tokens end at once."""
    with get_store(request).sessions.begin() as session:
        return UserRead.model_validate(
            set_active(session, user_id=user_id, active=False, by=caller.principal)
        )


@router.post("/users/{user_id}/enable", response_model=UserRead)
def enable_user(user_id: str, request: Request, caller: ManageUsers) -> UserRead:
    """Re-enable a disabled account."""
    with get_store(request).sessions.begin() as session:
        return UserRead.model_validate(
            set_active(session, user_id=user_id, active=True, by=caller.principal)
        )


@router.post("/users/{user_id}/role", response_model=UserRead)
def change_role(user_id: str, body: RoleChange, request: Request, caller: ManageRoles) -> UserRead:
    """Give an account another role."""
    with get_store(request).sessions.begin() as session:
        return UserRead.model_validate(
            assign_role(session, user_id=user_id, role=body.role, by=caller.principal)
        )


@router.post("/users/{user_id}/mfa-reset", response_model=UserRead)
def reset_mfa(user_id: str, request: Request, caller: ManageUsers) -> UserRead:
    """Remove an account's second factor; they enrol again at next sign-in."""
    with get_store(request).sessions.begin() as session:
        user = get_user(session, user_id)
        mfa.reset(session, user=user, by=caller.principal)
        return UserRead.model_validate(user)


@router.get("/roles", response_model=list[RoleRead])
def roles(request: Request, caller: ManageRoles) -> list[RoleRead]:
    """Every role and its permissions."""
    with get_store(request).read_sessions() as session:
        return [RoleRead.model_validate(role) for role in list_roles(session)]


@router.put("/roles/{name}", response_model=RoleRead)
def put_role(name: str, body: RoleDefinition, request: Request, caller: ManageRoles) -> RoleRead:
    """Create or change a custom role."""
    with get_store(request).sessions.begin() as session:
        return RoleRead.model_validate(
            define_role(
                session,
                name=name,
                permissions=set(body.permissions),
                description=body.description,
                by=caller.principal,
            )
        )

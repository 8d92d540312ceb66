"""What the security API takes in and lets out (no password hash, no secret, ever)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(_In):
    """E-mail and password (length bounded only generously: no truncation)."""

    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class SecondFactor(_In):
    """A TOTP code or a recovery code."""

    code: str | None = Field(default=None, max_length=12)
    recovery_code: str | None = Field(default=None, max_length=32)


class PasswordChange(_In):
    """The current password and the new one."""

    current: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


class SignInState(BaseModel):
    """What the signed-in browser must do next."""

    mfa_required: bool
    mfa_enrolled: bool
    must_change_password: bool
    csrf_token: str


class UserCreate(_In):
    """A new staff account."""

    email: str = Field(min_length=3, max_length=254)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(min_length=1, max_length=32)


class RoleChange(_In):
    """Another role for an account."""

    role: str = Field(min_length=1, max_length=32)


class RoleDefinition(_In):
    """A custom role's permissions."""

    permissions: list[str] = Field(max_length=64)
    description: str = Field(default="", max_length=200)


class TokenCreate(_In):
    """A new API token."""

    name: str = Field(min_length=1, max_length=64)
    scopes: list[str] = Field(min_length=1, max_length=64)
    days: int = Field(default=30, ge=1, le=366)


class UserRead(BaseModel):
    """An account as administrators see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: str
    is_active: bool
    must_change_password: bool
    totp_confirmed: bool
    created_at: datetime
    last_login_at: datetime | None


class RoleRead(BaseModel):
    """A role and what it allows."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    description: str
    permissions: list[str]
    builtin: bool


class AuditEntryRead(BaseModel):
    """One audit entry (ids and reasons only)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor_kind: str
    actor_id: str
    action: str
    target_type: str | None
    target_id: str | None
    reason: str | None
    details: dict[str, Any]
    entry_hash: str

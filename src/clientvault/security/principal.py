"""Who is acting: a member of staff (through a session or an API token) or a system job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

PII_REVEAL = "pii:reveal"


@dataclass(frozen=True)
class Principal:
    """The acting party every audited service call takes."""

    kind: Literal["user", "system"]
    id: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None

    @classmethod
    def system(cls, job: str, *permissions: str) -> Principal:
        """A background job acting under its own name with exactly the given permissions."""
        return cls(kind="system", id=job, permissions=frozenset(permissions))

    @classmethod
    def user(cls, user_id: uuid.UUID, *, role: str, permissions: frozenset[str]) -> Principal:
        """A member of staff with the permissions of their role (narrowed by a token's scopes)."""
        return cls(kind="user", id=str(user_id), permissions=permissions, role=role)

    def can(self, permission: str) -> bool:
        """Whether this principal holds a permission."""
        return permission in self.permissions

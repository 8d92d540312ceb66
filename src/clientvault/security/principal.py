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
    #: The API token a member of staff acts through, if any (``None``: a browser session).
    token_id: uuid.UUID | None = None

    @classmethod
    def system(cls, job: str, *permissions: str) -> Principal:
        """A background job acting under its own name with exactly the given permissions."""
        return cls(kind="system", id=job, permissions=frozenset(permissions))

    @classmethod
    def user(
        cls,
        user_id: uuid.UUID,
        *,
        role: str,
        permissions: frozenset[str],
        token_id: uuid.UUID | None = None,
    ) -> Principal:
        """A member of staff with the permissions of their role (narrowed by a token's scopes,
        when acting through the token ``token_id``)."""
        return cls(
            kind="user", id=str(user_id), permissions=permissions, role=role, token_id=token_id
        )

    def can(self, permission: str) -> bool:
        """Whether this principal holds a permission."""
        return permission in self.permissions

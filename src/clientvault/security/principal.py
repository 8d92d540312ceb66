"""Who is acting: a member of staff or a named system job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PII_REVEAL = "pii:reveal"


@dataclass(frozen=True)
class Principal:
    """The acting party every audited service call takes."""

    kind: Literal["user", "system"]
    id: str
    permissions: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def system(cls, job: str, *permissions: str) -> Principal:
        """A background job acting under its own name with exactly the given permissions."""
        return cls(kind="system", id=job, permissions=frozenset(permissions))

    def can(self, permission: str) -> bool:
        """Whether this principal holds a permission."""
        return permission in self.permissions

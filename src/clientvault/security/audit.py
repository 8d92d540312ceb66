"""Writing the audit log. Entries name ids and reasons, never personal values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow


def record(
    session: Session,
    *,
    principal: Principal,
    action: str,
    target_type: str | None = None,
    target_ids: Iterable[str] = (),
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry per target (or one without a target) in the caller's transaction."""
    now = utcnow()
    targets: list[str | None] = [*target_ids] or [None]
    session.add_all(
        AuditEntry(
            occurred_at=now,
            actor_kind=principal.kind,
            actor_id=principal.id,
            action=action,
            target_type=target_type,
            target_id=target,
            reason=reason,
            details=dict(details or {}),
        )
        for target in targets
    )

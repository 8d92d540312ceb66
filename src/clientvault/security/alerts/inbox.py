"""Access alerts as the DPO and admins see them: listed newest first, filtered by status or
kind, and acknowledged (an audited step). The detection that raises them is ``detection``."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound
from clientvault.security import audit
from clientvault.security.models import Alert
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow

STATUSES = ("open", "acknowledged")
#: Every kind of alert the rules raise.
KINDS = (
    "bulk_read",
    "bulk_export",
    "unusual_hours",
    "denials",
    "new_network",
    "mfa_replay",
    "client_blocked",
    # Raised by the privacy layer's deadline check of data-subject requests.
    "dsr_due_soon",
    "dsr_overdue",
    # Raised by the backup domain's jobs (clientvault.backup.health).
    "backup_failed",
    "backup_overdue",
    "drill_failed",
    "drill_overdue",
    "backup_target_down",
    # Raised by predict: a high-risk order; a model's scores moving (drift).
    "order_fraud",
    "model_drift",
)


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[Alert]:
    """The newest alerts first, optionally of one status or kind, before an id (paging)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}", details={"field": "status"})
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}", details={"field": "kind"})
    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Alert.status == status)
    if kind is not None:
        query = query.where(Alert.kind == kind)
    if before is not None:
        query = query.where(Alert.id < before)
    return list(session.scalars(query))


def get_alert(session: Session, alert_id: int) -> Alert:
    """One alert by id, or ``NotFound``."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("no such alert")
    return alert


def acknowledge(session: Session, *, alert_id: int, by: Principal) -> Alert:
    """Mark an alert as looked at (idempotent), in the audit log too."""
    alert = get_alert(session, alert_id)
    if alert.status != "acknowledged":
        alert.status = "acknowledged"
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = by.id
        audit.record(
            session,
            principal=by,
            action="alert.acknowledged",
            target_type="alert",
            target_ids=[str(alert.id)],
            details={"kind": alert.kind},
        )
    return alert


def count_open(session: Session) -> int:
    """How many alerts nobody has acknowledged yet."""
    return session.scalar(select(func.count()).where(Alert.status == "open")) or 0

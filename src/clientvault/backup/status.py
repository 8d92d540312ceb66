"""What the admin pages and API show of backups: per kind and target, the backups with their
sizes, the last drill with its RTO/RPO, the targets' health and the open backup alerts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.backup.catalogue import KINDS, latest_drill, list_backups
from clientvault.backup.health import ALERT_KINDS
from clientvault.backup.targets import targets_for
from clientvault.security.models import Alert
from clientvault.settings import Settings


class BackupRead(BaseModel):
    """One backup in the catalogue."""

    backup_id: str
    kind: str
    created_at: datetime
    stored_bytes: int
    plain_bytes: int
    complete: bool
    complete_on: list[str]
    partial_on: list[str]


class TargetRead(BaseModel):
    """One target: its kind of backups, its complete backups and bytes, and (if probed)
    its health."""

    name: str
    kind: str
    backups: int
    stored_bytes: int
    ok: bool | None = None
    detail: str | None = None


class DrillRead(BaseModel):
    """The last restore drill: recovery time (its duration), recovery point (backup age)."""

    drill_id: str
    started_at: str
    ok: bool
    backup_id: str | None
    rto_seconds: float
    rpo_seconds: float | None
    problem: str | None


class AlertSummary(BaseModel):
    """An open backup alert."""

    id: int
    kind: str
    severity: str
    summary: str
    created_at: datetime


class BackupOverview(BaseModel):
    """Everything the backup page shows."""

    backups: list[BackupRead]
    targets: list[TargetRead]
    last_drill: DrillRead | None
    alerts: list[AlertSummary]
    copies_required: int | None


def overview(session: Session, settings: Settings, *, probe: bool = False) -> BackupOverview:
    """The catalogue read from the targets, with the open backup alerts of the database;
    ``probe`` also writes a probe to each target (slower)."""
    backups: list[BackupRead] = []
    targets: list[TargetRead] = []
    for kind in KINDS:
        configured = targets_for(settings, kind)
        entries = list_backups(configured, kind)
        backups.extend(BackupRead(**{**e.__dict__, "complete": e.complete}) for e in entries)
        for target in configured:
            mine = [e for e in entries if target.name in e.complete_on]
            row = TargetRead(
                name=target.name,
                kind=kind,
                backups=len(mine),
                stored_bytes=sum(e.stored_bytes for e in mine),
            )
            if probe:
                state = target.health()
                row.ok, row.detail = state.ok, state.detail
            targets.append(row)
    drill = latest_drill(targets_for(settings, "data"))
    alerts = session.scalars(
        select(Alert)
        .where(Alert.kind.in_(ALERT_KINDS), Alert.status == "open")
        .order_by(Alert.id.desc())
        .limit(50)
    )
    return BackupOverview(
        backups=backups,
        targets=targets,
        last_drill=None
        if drill is None
        else DrillRead(**{k: v for k, v in drill.__dict__.items() if k in DrillRead.model_fields}),
        alerts=[
            AlertSummary(
                id=a.id,
                kind=a.kind,
                severity=a.severity,
                summary=a.summary,
                created_at=a.created_at,
            )
            for a in alerts
        ],
        copies_required=settings.backup.copies_required,
    )

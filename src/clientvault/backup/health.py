"""Admin alerts about backups: failed or overdue backups and drills, unreachable targets.

They go to the access-alerts table (``security.models.Alert``), where admins already look,
each once per subject and day (``dedup_key``), like the privacy deadlines' alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.backup.catalogue import KINDS, latest_complete, latest_drill
from clientvault.backup.targets import TargetHealth, targets_for
from clientvault.security.models import Alert
from clientvault.settings import Settings

BACKUP_FAILED = "backup_failed"
BACKUP_OVERDUE = "backup_overdue"
DRILL_FAILED = "drill_failed"
DRILL_OVERDUE = "drill_overdue"
TARGET_DOWN = "backup_target_down"
ALERT_KINDS = (BACKUP_FAILED, BACKUP_OVERDUE, DRILL_FAILED, DRILL_OVERDUE, TARGET_DOWN)
SEVERITY = {
    BACKUP_FAILED: "high",
    BACKUP_OVERDUE: "high",
    DRILL_FAILED: "high",
    DRILL_OVERDUE: "medium",
    TARGET_DOWN: "high",
}
JOB = "backup.health"


def raise_alert(
    session: Session,
    kind: str,
    *,
    subject: str,
    summary: str,
    evidence: dict[str, Any],
    now: datetime | None = None,
) -> bool:
    """Raise one alert of ``kind`` about ``subject`` for the day; false if already raised."""
    moment = now or datetime.now(UTC)
    key = f"backup:{kind}:{subject}:{moment:%Y-%m-%d}"
    if session.scalar(select(func.count()).where(Alert.dedup_key == key)):
        return False
    session.add(
        Alert(
            dedup_key=key,
            kind=kind,
            severity=SEVERITY[kind],
            subject=f"backup:{subject}"[:80],
            actor_kind="system",
            actor_id=JOB,
            window_start=moment,
            window_end=moment,
            summary=summary[:200],
            evidence=evidence,
        )
    )
    session.flush()
    return True


@dataclass
class HealthReport:
    """The state the health check found, and how many alerts it newly raised."""

    targets: list[TargetHealth] = field(default_factory=list)
    newest: dict[str, str | None] = field(default_factory=dict)
    last_drill: dict[str, Any] | None = None
    alerts_raised: int = 0


def check(
    session: Session, settings: Settings, *, now: datetime | None = None, probe: bool = True
) -> HealthReport:
    """Probe every target, and raise alerts for a target down, a backup older than
    ``backup_max_age_hours`` (or none at all), a drill older than ``drill_max_age_days`` (or
    none) and a last drill that failed."""
    moment = now or datetime.now(UTC)
    report = HealthReport()
    raised = 0
    for kind in KINDS:
        targets = targets_for(settings, kind)
        if probe:
            for target in targets:
                state = target.health()
                report.targets.append(state)
                if not state.ok:
                    raised += raise_alert(
                        session,
                        TARGET_DOWN,
                        subject=f"{kind}:{target.name}",
                        summary=f"backup target {target.name} ({kind}) fails: {state.detail}",
                        evidence={"target": target.name, "kind": kind},
                        now=moment,
                    )
        newest = latest_complete(targets, kind)
        report.newest[kind] = newest.backup_id if newest else None
        limit = timedelta(hours=settings.backup.backup_max_age_hours)
        if newest is None or moment - newest.created_at > limit:
            age = "no complete backup" if newest is None else f"newest is {newest.backup_id}"
            raised += raise_alert(
                session,
                BACKUP_OVERDUE,
                subject=kind,
                summary=f"{kind} backup overdue: {age}",
                evidence={"kind": kind, "newest": report.newest[kind]},
                now=moment,
            )
    drill = latest_drill(targets_for(settings, "data"))
    report.last_drill = None if drill is None else dict(drill.__dict__)
    limit = timedelta(days=settings.backup.drill_max_age_days)
    if drill is None or moment - datetime.fromisoformat(drill.started_at) > limit:
        raised += raise_alert(
            session,
            DRILL_OVERDUE,
            subject="data",
            summary="restore drill overdue: "
            + ("never run" if drill is None else f"last on {drill.started_at[:10]}"),
            evidence={"last_drill": None if drill is None else drill.drill_id},
            now=moment,
        )
    elif not drill.ok:
        raised += raise_alert(
            session,
            DRILL_FAILED,
            subject=drill.drill_id,
            summary=f"restore drill failed: {drill.problem}",
            evidence={"drill_id": drill.drill_id},
            now=moment,
        )
    report.alerts_raised = raised
    return report

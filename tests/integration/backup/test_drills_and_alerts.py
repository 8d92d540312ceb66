"""Restore drills (RTO/RPO recorded beside the backups) and the admin alerts of failed or
overdue backups and drills."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from clientvault.backup import health
from clientvault.backup.catalogue import latest_drill
from clientvault.backup.create import create_backup
from clientvault.backup.drills import run_drill
from clientvault.backup.jobs import back_up_and_prune, drill_if_due
from clientvault.backup.targets import targets_for
from clientvault.security.models import Alert, AuditEntry
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.backups import fresh_database


def _alerts(store: Store) -> dict[str, str]:
    with store.read_sessions() as session:
        return {
            a.kind: a.summary
            for a in session.scalars(select(Alert).where(Alert.kind.in_(health.ALERT_KINDS)))
        }


def _drilling(settings: Settings, url: str) -> Settings:
    if url.startswith("sqlite"):
        return settings
    return settings.model_copy(
        update={"backup": settings.backup.model_copy(update={"drill_url": url})}
    )


def test_a_drill_restores_the_newest_backup_and_records_rto_and_rpo(
    db: Store, bk_settings: Settings, customers: list[uuid.UUID], tmp_path: Path
) -> None:
    with fresh_database(bk_settings, tmp_path, "drill") as url:
        settings = _drilling(bk_settings, url)
        assert drill_if_due(db, settings) is None  # nothing to drill before the first backup
        made = back_up_and_prune(db, settings)
        record = drill_if_due(db, settings)
        assert drill_if_due(db, settings) is None  # the next one is a week away
    assert record is not None, record
    assert record.ok, record
    assert record.backup_id == made[0]
    assert record.rto_seconds > 0
    assert record.rpo_seconds is not None
    assert record.rpo_seconds >= 0
    assert record.report["sample_decrypted"] is True
    assert latest_drill(targets_for(settings, "data")) == record
    with db.read_sessions() as session:
        actions = list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("backup.%")))
        )
    assert actions.count("backup.created") == 2
    assert "backup.drill" in actions
    assert not list((settings.backup.scratch_dir or tmp_path).iterdir())  # nothing restored lingers
    # Fresh backups, a passing drill: the health check finds nothing to say.
    with db.sessions.begin() as session:
        assert health.check(session, settings).alerts_raised == 0


def test_a_failed_drill_and_overdue_backups_raise_admin_alerts(
    db: Store, bk_settings: Settings, customers: list[uuid.UUID], tmp_path: Path
) -> None:
    with db.sessions.begin() as session:
        report = health.check(session, bk_settings)
    assert report.alerts_raised == 3  # no data backup, no keystore backup, never drilled
    assert set(_alerts(db)) == {health.BACKUP_OVERDUE, health.DRILL_OVERDUE}

    made = create_backup(bk_settings, "data", now=datetime.now(UTC) - timedelta(days=3))
    root = bk_settings.backup.targets[0].path
    assert root is not None
    next((root / "data" / made.backup_id / "chunks").iterdir()).write_bytes(b"damaged")
    with fresh_database(bk_settings, tmp_path, "drill") as url:
        record = run_drill(db, _drilling(bk_settings, url))
    assert not record.ok
    assert record.problem is not None
    assert "SHA-256" in record.problem
    assert record.rpo_seconds is not None
    assert record.rpo_seconds >= 3 * 86400
    alerts = _alerts(db)
    assert "restore drill failed" in alerts[health.DRILL_FAILED]
    with db.sessions.begin() as session:
        later = health.check(session, bk_settings, probe=False)
    assert later.last_drill is not None
    assert later.last_drill["ok"] is False

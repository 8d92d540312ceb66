"""Restore drills: the newest data backup restored into a scratch database and checked,
recording how long recovery took (RTO) and how old the recovered data was (RPO).

A drill is ``restore.restore`` end to end (every check, tombstones, migrations, a sample
decrypt) into a scratch file (SQLite) or the empty ``backup.drill_url`` (PostgreSQL),
dropped afterwards. Its record — no personal data — is written beside the backups, on every
data target (``drills/<id>.json``), where the catalogue lives; a failed drill also raises an
admin alert (``health``).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clientvault.backup import health
from clientvault.backup.catalogue import DRILLS, DrillRecord, latest_complete
from clientvault.backup.create import scratch_dir
from clientvault.backup.errors import BackupRefused
from clientvault.backup.restore import Migrator, complete_entry, restore
from clientvault.backup.snapshot import backend_of
from clientvault.backup.targets import Target, targets_for
from clientvault.errors import ClientVaultError, ConfigurationError
from clientvault.privacy.erasure import tombstone_snapshot
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store

#: The drill acts as a system job with what a restore needs (erasures, a sample decrypt).
DRILL_PRINCIPAL = Principal.system("backup.drill", "privacy:manage", "pii:reveal")


def run_drill(
    store: Store,
    settings: Settings,
    *,
    principal: Principal = DRILL_PRINCIPAL,
    migrate: Migrator | None = None,
    backup_id: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DrillRecord:
    """Restore the newest complete data backup (or ``backup_id``) into scratch, verify it,
    record the result on the data targets and in the audit log, and raise an alert if it
    failed. ``progress`` and ``on_step`` are the restore's (a background task's progress)."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    drill_id = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    targets = targets_for(settings, "data")
    work = scratch_dir(settings) / f"drill-{drill_id}"
    work.mkdir(mode=0o700)
    rpo: float | None = None
    report: dict[str, Any] = {}
    problem: str | None = None
    try:
        entry = (
            latest_complete(targets, "data")
            if backup_id is None
            else complete_entry(targets, "data", backup_id)
        )
        if entry is None:
            raise BackupRefused("there is no complete data backup to drill")
        backup_id = entry.backup_id
        rpo = round((started - entry.created_at).total_seconds(), 1)
        with store.read_sessions() as session:
            tombstones = tombstone_snapshot(session)
        done = restore(
            settings,
            target_url=_scratch_url(settings, work),
            tombstones=tombstones,
            principal=principal,
            backup_id=backup_id,
            force=True,
            migrate=migrate,
            progress=progress,
            on_step=on_step,
        )
        report = done.as_dict()
    except (ClientVaultError, OSError) as exc:
        problem = (
            exc.message if isinstance(exc, ClientVaultError) else f"{type(exc).__name__}: {exc}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = DrillRecord(
        drill_id=drill_id,
        started_at=started.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        ok=problem is None,
        backup_id=backup_id,
        rto_seconds=round(time.monotonic() - clock, 3),
        rpo_seconds=rpo,
        problem=problem,
        report=report,
    )
    _keep(targets, record)
    with store.sessions.begin() as session:
        audit.record(
            session,
            principal=principal,
            action="backup.drill",
            target_type="backup",
            target_ids=[backup_id] if backup_id else [],
            details={"drill_id": drill_id, "ok": record.ok, "rto_seconds": record.rto_seconds},
        )
        if not record.ok:
            health.raise_alert(
                session,
                health.DRILL_FAILED,
                subject=drill_id,
                summary=f"restore drill failed: {problem}"[:200],
                evidence={"drill_id": drill_id, "backup_id": backup_id},
            )
    return record


def _scratch_url(settings: Settings, work: Path) -> str:
    if backend_of(settings.database_url) == "sqlite":
        return f"sqlite:///{work / 'drill.db'}"
    if settings.backup.drill_url is None:
        raise ConfigurationError("set backup.drill_url to an empty PostgreSQL database for drills")
    return settings.backup.drill_url


def _keep(targets: list[Target], record: DrillRecord) -> None:
    body = json.dumps(record.__dict__, sort_keys=True).encode()
    for target in targets:
        try:
            target.put_bytes(f"{DRILLS}/{record.drill_id}.json", body)
        except Exception:  # noqa: S112 (one target down must not lose the record elsewhere)
            continue

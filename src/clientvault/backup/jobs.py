"""The backup domain's scheduled jobs: nightly backups with pruning, weekly drills, the
health check that raises admin alerts, and the deletion of old background task records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clientvault.backup import health
from clientvault.backup.catalogue import DrillRecord, latest_complete, latest_drill, prune
from clientvault.backup.create import audit_backup, create_backup
from clientvault.backup.drills import run_drill
from clientvault.backup.targets import targets_for
from clientvault.backup.tasks import prune_tasks
from clientvault.errors import ClientVaultError
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

BACKUP_PRINCIPAL = Principal.system("backup.create")


def back_up_and_prune(store: Store, settings: Settings) -> list[str]:
    """Back up the data database then the keystore, each pruned to its retention after; a
    failure raises a ``backup_failed`` alert (and the job is marked failed)."""
    made = []
    for kind, policy in (
        ("data", settings.backup.retention),
        ("keystore", settings.backup.keystore_retention),
    ):
        try:
            result = create_backup(settings, kind)
        except (ClientVaultError, OSError) as exc:
            message = exc.message if isinstance(exc, ClientVaultError) else type(exc).__name__
            with store.sessions.begin() as session:
                health.raise_alert(
                    session,
                    health.BACKUP_FAILED,
                    subject=kind,
                    summary=f"{kind} backup failed: {message}",
                    evidence={"kind": kind},
                )
            raise
        made.append(result.backup_id)
        pruned = prune(targets_for(settings, kind), kind, policy, now=datetime.now(UTC))
        removed = sum(len(ids) for ids in pruned.removed.values())
        audit_backup(store, result, principal=BACKUP_PRINCIPAL, pruned=removed)
    _check(store, settings)
    return made


def drill_if_due(store: Store, settings: Settings) -> DrillRecord | None:
    """Run a drill when there is a complete backup and the last drill is older than
    ``drill_every_days`` (or there was none): the job is looked at daily, a drill is weekly
    by default. Before the first backup there is nothing to drill (the health check alerts
    on the missing backup instead)."""
    targets = targets_for(settings, "data")
    if latest_complete(targets, "data") is None:
        return None
    last = latest_drill(targets)
    period = timedelta(days=settings.backup.drill_every_days)
    if last is not None and datetime.now(UTC) - datetime.fromisoformat(last.started_at) < period:
        return None
    return run_drill(store, settings)


def _check(store: Store, settings: Settings) -> None:
    with store.sessions.begin() as session:
        health.check(session, settings)


def _enabled(settings: Settings) -> bool:
    return settings.backup.enabled


BACKUPS = ScheduledJob(
    name="backup.create",
    description="Back up the data database and the keystore to their targets, then prune.",
    schedule=lambda settings: settings.backup.schedule,
    run=back_up_and_prune,
    lease=timedelta(hours=6),
    enabled=_enabled,
)

DRILLS = ScheduledJob(
    name="backup.drill",
    description="Restore the newest backup into scratch, verify it, record RTO and RPO.",
    schedule=lambda settings: settings.backup.drill_schedule,
    run=drill_if_due,
    lease=timedelta(hours=6),
    enabled=_enabled,
)

HEALTH = ScheduledJob(
    name="backup.health",
    description="Probe the backup targets; alert on failed or overdue backups and drills.",
    schedule=lambda settings: settings.backup.health_schedule,
    run=_check,
    lease=timedelta(minutes=30),
    enabled=_enabled,
)


def _prune_tasks(store: Store, settings: Settings) -> list[str]:
    return prune_tasks(settings)


TASK_RECORDS = ScheduledJob(
    name="backup.prune-tasks",
    description="Delete the records of restores, drills and verifications asked for from the "
    "console or the API once past backup.task_retention_days.",
    schedule=lambda settings: settings.backup.task_prune_schedule,
    run=_prune_tasks,
    lease=timedelta(minutes=30),
)

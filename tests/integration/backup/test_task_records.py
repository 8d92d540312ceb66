"""Old records of background backup tasks are deleted by the worker's scheduled job after
``backup.task_retention_days``; a queued or running task never is, however old (both
backends: the job runs on the scheduler's lease rows of either)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from clientvault.automation.jobs import list_jobs
from clientvault.automation.scheduler import Scheduler
from clientvault.backup.create import create_backup
from clientvault.backup.jobs import TASK_RECORDS
from clientvault.backup.tasks import list_tasks, prune_tasks, queue_task, run_task
from clientvault.migrations.schema import load_holders
from clientvault.security.principal import Principal
from clientvault.settings import BackupSettings, Settings
from clientvault.store.context import Store
from support.backups import remove_default_backups, with_backups
from support.privacy_core import make_customers, person, prepare

ADMIN = Principal.system("test", "keys:manage")


@pytest.fixture
def bk_settings(db_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Local targets of the test's own, task records kept 30 days, the pruning job due at
    once; the task records (in the data dir, shared on PostgreSQL) removed before and after."""
    remove_default_backups(db_settings)
    yield with_backups(
        db_settings,
        tmp_path / "backups",
        task_retention_days=30,
        task_prune_schedule="every 1 hours",
    )
    remove_default_backups(db_settings)


def _verified(db: Store, settings: Settings, backup_id: str) -> str:
    """Queue and run a real verification to its end: the task's id."""
    task = queue_task(
        db, settings, action="verify", kind="data", backup_id=backup_id, target=None, by=ADMIN
    )
    run_task(db, settings, task.id, by=ADMIN, migrate=lambda url: None)
    return task.id


def _rewrite(settings: Settings, task_id: str, **fields: object) -> None:
    """Change fields of a task's record (the record is the task's only state)."""
    path = settings.data_dir / "backup-tasks" / f"{task_id}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _age(settings: Settings, task_id: str, **days_ago: float) -> None:
    """Move some of a record's timestamps back."""
    now = datetime.now(UTC)
    moved = {name: (now - timedelta(days=days)).isoformat() for name, days in days_ago.items()}
    _rewrite(settings, task_id, **moved)


def test_the_worker_deletes_finished_task_records_past_their_retention_only(
    db: Store, bk_settings: Settings
) -> None:
    prepare(db)
    make_customers(db, person(1), person(2))
    backup_id = create_backup(bk_settings, "data").backup_id
    old_done, recent_done, cut_off = (_verified(db, bk_settings, backup_id) for _ in range(3))
    _age(bk_settings, old_done, created_at=32, started_at=32, finished_at=31)
    _age(bk_settings, recent_done, created_at=29, started_at=29, finished_at=29)
    # A task whose server stopped 40 days ago: still "running" on disk, interrupted for all.
    _age(bk_settings, cut_off, created_at=41, started_at=41, heartbeat_at=40)
    _rewrite(bk_settings, cut_off, status="running", finished_at=None)
    # A long task started 100 days ago and still beating: never deleted.
    running = queue_task(
        db, bk_settings, action="verify", kind="data", backup_id=backup_id, target=None, by=ADMIN
    ).id
    _age(bk_settings, running, created_at=100, started_at=100, heartbeat_at=0)
    _rewrite(bk_settings, running, status="running")
    # What a save cut off leaves: a temporary file, deleted after the same delay.
    folder = bk_settings.data_dir / "backup-tasks"
    stale, fresh = folder / f"{old_done}.1.tmp", folder / f"{running}.2.tmp"
    for leftover in (stale, fresh):
        leftover.write_text("{")
    month_ago = (datetime.now(UTC) - timedelta(days=31)).timestamp()
    os.utime(stale, (month_ago, month_ago))
    states = {task.id: task.state for task in list_tasks(bk_settings)}
    assert states == {
        old_done: "done",
        recent_done: "done",
        cut_off: "interrupted",
        running: "running",
    }

    load_holders()
    assert Scheduler(db, bk_settings, [TASK_RECORDS]).run_due() == 1
    with db.read_sessions() as session:
        (status,) = list_jobs(session, bk_settings, [TASK_RECORDS])
    assert (status.name, status.last_status, status.last_error) == (
        "backup.prune-tasks",
        "ok",
        None,
    )
    kept = {task.id: task.state for task in list_tasks(bk_settings)}
    assert kept == {recent_done: "done", running: "running"}
    files = sorted(path.stem for path in (bk_settings.data_dir / "backup-tasks").glob("*.json"))
    assert files == sorted(kept)
    assert (stale.exists(), fresh.exists()) == (False, True)

    # Years later, the running task (still beating) stays; the other goes.
    later = datetime.now(UTC) + timedelta(days=3650)
    _age(bk_settings, running, heartbeat_at=-3650)
    assert prune_tasks(bk_settings, now=later) == [recent_done]
    assert [task.id for task in list_tasks(bk_settings)] == [running]


def test_a_task_retention_of_less_than_a_day_is_refused() -> None:
    with pytest.raises(ValidationError, match="task_retention_days"):
        BackupSettings(task_retention_days=0)

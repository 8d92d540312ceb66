"""Restores, drills and verifications of a chosen backup, asked for from the console or the
API and run in the background with progress.

The work is the CLI's (``restore.restore``, ``drills.run_drill``, ``restore.verify_backup``);
it takes minutes on a large database, longer than a request should last. So, as a
background import does (``ingest.import_jobs``), a request records a task and a thread of the
server runs it, writing its progress (bytes fetched and verified, the steps done) and a
heartbeat as it goes; the result (row counts checked, audit chain entries verified, the
sample decrypt, RTO/RPO of a drill) stays with the task.

A restore from the web never goes over a live database: its target is a new file under
``<data dir>/restores`` (SQLite) or an empty database on the live PostgreSQL server, named by
the operator and checked (``restore.check_target``) when asked for and again before writing.
Restoring over the live database stays ``clientvault restore --force``, with the server
stopped. Restores and drills re-apply erasures and decrypt a sample in the caller's name, so
they need ``privacy:manage`` and ``pii:reveal`` besides the routes' ``keys:manage``.

The tasks are JSON files in ``<data dir>/backup-tasks`` (owner only; ids, counts, names of
files and databases, never personal data), not rows of the data database: the backup domain
keeps its state beside the data it may have to replace (its catalogue is on the targets).
One task runs at a time. A task whose heartbeat stopped (its server did) shows as
``interrupted``; a restore cut off so leaves its target marked unusable (``restore``), and is
asked for again into a new name. The records of finished tasks are deleted
``backup.task_retention_days`` after they ended (``prune_tasks``, a job of the worker's).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from clientvault.backup.create import url_of
from clientvault.backup.drills import run_drill
from clientvault.backup.errors import BackupRefused
from clientvault.backup.restore import (
    Migrator,
    check_target,
    complete_entry,
    describe_target,
    record_on_backup,
    restore,
    verify_backup,
)
from clientvault.backup.snapshot import backend_of
from clientvault.backup.targets import targets_for
from clientvault.errors import ClientVaultError, Conflict, InvalidInput, NotFound, PermissionDenied
from clientvault.privacy.erasure import tombstone_snapshot
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import Settings
from clientvault.store.context import Store

__all__ = [
    "ACTIONS",
    "STALE_AFTER",
    "BackupTaskRead",
    "get_task",
    "list_tasks",
    "prune_tasks",
    "queue_task",
    "restore_target_url",
    "run_task",
    "start_task",
]

ACTIONS = ("restore", "drill", "verify")
#: A running task whose heartbeat is older than this was cut off (its server stopped).
STALE_AFTER = timedelta(minutes=2)
#: The heartbeat's period while a long step (``pg_restore``, migrations) reports nothing.
HEARTBEAT_EVERY_S = 10.0
_PROGRESS_EVERY_S = 1.0
_NEEDED = {"restore": ("privacy:manage", PII_REVEAL), "drill": ("privacy:manage", PII_REVEAL)}
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TASK_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
_MAX_ERROR = 500
logger = logging.getLogger(__name__)


@dataclass
class _Task:
    """A task's record as kept on disk."""

    id: str
    action: str
    kind: str
    backup_id: str
    target_name: str | None
    target: str | None
    status: str  # queued, running, done or failed
    created_by: str
    created_at: str
    bytes_total: int
    bytes_done: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    heartbeat_at: str | None = None
    steps: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class BackupTaskRead(BaseModel):
    """A task as the console and the API show it."""

    id: str
    action: str
    kind: str
    backup_id: str
    target: str | None
    state: str  # queued, running, interrupted, done or failed
    percent: int
    bytes_total: int
    bytes_done: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    steps: list[str]
    result: dict[str, Any]
    error: str | None
    finished: bool


def _now() -> datetime:
    return datetime.now(UTC)


def _directory(settings: Settings) -> Path:
    directory = settings.data_dir / "backup-tasks"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def _path(settings: Settings, task_id: str) -> Path:
    if not _TASK_ID.fullmatch(task_id):
        raise NotFound("no such backup task")
    return _directory(settings) / f"{task_id}.json"


def _save(settings: Settings, task: _Task) -> None:
    """Write the record whole (a reader never sees half of it): a temporary file renamed."""
    path = _path(settings, task.id)
    temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(asdict(task), handle, sort_keys=True)
    os.replace(temporary, path)


def _load(settings: Settings, task_id: str) -> _Task:
    path = _path(settings, task_id)
    try:
        return _Task(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise NotFound("no such backup task") from None


def _view(task: _Task, now: datetime) -> BackupTaskRead:
    state = task.status
    beat = datetime.fromisoformat(task.heartbeat_at or task.started_at or task.created_at)
    if state in ("queued", "running") and now - beat > STALE_AFTER:
        state = "interrupted"
    fetched = task.bytes_done * 85 // max(task.bytes_total, 1)
    percent = 100 if state == "done" else min(99, fetched + 2 * len(task.steps))
    return BackupTaskRead(
        id=task.id,
        action=task.action,
        kind=task.kind,
        backup_id=task.backup_id,
        target=task.target,
        state=state,
        percent=percent,
        bytes_total=task.bytes_total,
        bytes_done=task.bytes_done,
        created_by=task.created_by,
        created_at=datetime.fromisoformat(task.created_at),
        started_at=datetime.fromisoformat(task.started_at) if task.started_at else None,
        finished_at=datetime.fromisoformat(task.finished_at) if task.finished_at else None,
        steps=list(task.steps),
        result=dict(task.result),
        error=task.error,
        finished=state in ("done", "failed", "interrupted"),
    )


def get_task(settings: Settings, task_id: str) -> BackupTaskRead:
    """One task as shown, or ``NotFound``."""
    return _view(_load(settings, task_id), _now())


def list_tasks(settings: Settings, *, limit: int = 20) -> list[BackupTaskRead]:
    """The latest tasks, newest first (by creation time: ids share a second's prefix)."""
    tasks = [_load(settings, path.stem) for path in _directory(settings).glob("*.json")]
    tasks.sort(key=lambda task: task.created_at, reverse=True)
    now = _now()
    return [_view(task, now) for task in tasks[:limit]]


def prune_tasks(settings: Settings, *, now: datetime | None = None) -> list[str]:
    """Delete the records of tasks that ended more than ``backup.task_retention_days`` ago
    (else they are kept forever): the ids deleted, oldest first.

    A task ended when it is done or failed (at ``finished_at``) or interrupted (at its last
    heartbeat, its server gone); a queued or running one is never deleted, however old.
    Taken under the lock that queues and claims tasks, so a task is not claimed as its record
    goes. A temporary file a save cut off left behind goes after the same delay."""
    moment = now or _now()
    cutoff = moment - timedelta(days=settings.backup.task_retention_days)
    deleted = []
    directory = _directory(settings)
    with _one_at_a_time(settings):
        for path in sorted(directory.glob("*.json")):
            task = _load(settings, path.stem)
            if not _view(task, moment).finished:
                continue
            ended = task.finished_at or task.heartbeat_at or task.started_at or task.created_at
            if datetime.fromisoformat(ended) < cutoff:
                path.unlink(missing_ok=True)
                deleted.append(task.id)
        for leftover in directory.glob("*.tmp"):
            if datetime.fromtimestamp(leftover.stat().st_mtime, UTC) < cutoff:
                leftover.unlink(missing_ok=True)
    if deleted:
        logger.info("deleted %d backup task record(s) past their retention", len(deleted))
    return deleted


def restore_target_url(settings: Settings, kind: str, name: str) -> str:
    """Where a restore asked for from the web goes: ``<data dir>/restores/NAME.db`` when the
    installation's ``kind`` database is SQLite, else the database ``NAME`` on the live
    PostgreSQL server (same credentials). ``InvalidInput`` for a name that is not one."""
    live = url_of(settings, kind)
    if backend_of(live) == "sqlite":
        if not _FILE_NAME.fullmatch(name):
            raise InvalidInput(
                "the target is a file name: letters, digits, - and _ (1 to 64)",
                details={"target": "invalid"},
            )
        folder = settings.data_dir / "restores"
        folder.mkdir(mode=0o700, exist_ok=True)
        return f"sqlite:///{folder / f'{name}.db'}"
    if not _DATABASE_NAME.fullmatch(name):
        raise InvalidInput(
            "the target is a PostgreSQL database name: lower-case letters, digits and _ "
            "(1 to 63, not starting with a digit)",
            details={"target": "invalid"},
        )
    return make_url(live).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _one_at_a_time(settings: Settings) -> Iterator[None]:
    with (_directory(settings) / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def queue_task(
    store: Store,
    settings: Settings,
    *,
    action: str,
    kind: str,
    backup_id: str,
    target: str | None,
    by: Principal,
) -> BackupTaskRead:
    """Check and record a task (audited ``backup.task_queued``); ``start_task`` runs it.

    Refused before anything is recorded: an unknown action or kind, a drill of a keystore
    backup or a restore without a target (``InvalidInput``); a caller without the
    permissions a restore or drill acts with (``PermissionDenied``); a backup that is not
    complete, a target that exists, holds data or is live, a drill on PostgreSQL without
    ``backup.drill_url`` (``BackupRefused``); another task still running (``Conflict``)."""
    if action not in ACTIONS:
        raise InvalidInput(f"a backup task is one of {', '.join(ACTIONS)}")
    if kind not in ("data", "keystore") or (action == "drill" and kind != "data"):
        raise InvalidInput("a drill restores a data backup; a restore or verify, either kind")
    missing = [p for p in _NEEDED.get(action, ()) if not by.can(p)]
    if missing:
        raise PermissionDenied(
            f"a {action} re-applies erasures and decrypts a sample in your name: "
            f"it needs {', '.join(missing)}"
        )
    entry = complete_entry(targets_for(settings, kind), kind, backup_id)
    unset = settings.backup.drill_url is None
    if action == "drill" and unset and backend_of(settings.database_url) != "sqlite":
        raise BackupRefused("set backup.drill_url to an empty PostgreSQL database for drills")
    described: str | None = None
    if action == "restore":
        if not target:
            raise InvalidInput("a restore needs a target", details={"target": "missing"})
        url = restore_target_url(settings, kind, target)
        described = describe_target(url)
        try:
            check_target(settings, kind, url)
        except OperationalError:
            raise BackupRefused(
                f"{described} cannot be opened: create it, empty, on the live server first"
            ) from None
    copies = len(entry.complete_on) if action == "verify" else 1
    now = _now()
    task = _Task(
        id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        action=action,
        kind=kind,
        backup_id=entry.backup_id,
        target_name=target if action == "restore" else None,
        target=described,
        status="queued",
        created_by=by.id[:64],
        created_at=now.isoformat(),
        bytes_total=entry.stored_bytes * copies,
    )
    with _one_at_a_time(settings):
        busy = [t.id for t in list_tasks(settings) if not t.finished]
        if busy:
            raise Conflict(f"backup task {busy[0]} is still running: one at a time")
        _save(settings, task)
    record_on_backup(
        store,
        "backup.task_queued",
        entry.backup_id,
        principal=by,
        details={"task": task.id, "action": action, "kind": kind, "target": described},
    )
    return _view(task, now)


def start_task(
    store: Store, settings: Settings, task_id: str, *, by: Principal, migrate: Migrator
) -> threading.Thread:
    """Run a queued task in a thread of this process (see the module's docstring)."""
    thread = threading.Thread(
        target=run_task,
        args=(store, settings, task_id),
        kwargs={"by": by, "migrate": migrate},
        name=f"backup-task-{task_id}",
        daemon=True,
    )
    thread.start()
    return thread


class _Progress:
    """The running task's record, written on progress (at most once a second), on each step
    and on a heartbeat from a thread of its own while a long step reports nothing."""

    def __init__(self, settings: Settings, task: _Task) -> None:
        self.settings, self.task = settings, task
        self._lock = threading.Lock()
        self._last = 0.0
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)

    def __enter__(self) -> _Progress:
        self._beat.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._beat.join()

    def write(self, *, force: bool = False, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(self.task, name, value)
            moment = time.monotonic()
            if force or moment - self._last >= _PROGRESS_EVERY_S:
                self._last = moment
                self.task.heartbeat_at = _now().isoformat()
                _save(self.settings, self.task)

    def fetched(self, size: int) -> None:
        self.write(bytes_done=self.task.bytes_done + size)

    def step(self, done: str) -> None:
        self.write(force=True, steps=[*self.task.steps, done])

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY_S):
            self.write(force=True)


def run_task(
    store: Store, settings: Settings, task_id: str, *, by: Principal, migrate: Migrator
) -> None:
    """Claim a queued task and run it, recording progress and the result; never raises
    (the task's record says how it ended; a failure is audited ``backup.task_failed``)."""
    with _one_at_a_time(settings):
        task = _load(settings, task_id)
        if task.status != "queued":
            return  # another thread or server took it
        task.status, task.started_at = "running", _now().isoformat()
        task.heartbeat_at = task.started_at
        _save(settings, task)
    error: str | None = None
    with _Progress(settings, task) as progress:
        run = _Run(store, settings, task, by, migrate, progress)
        try:
            result = _RUNS[task.action](run)
        except (ClientVaultError, OSError) as exc:
            error = exc.message if isinstance(exc, ClientVaultError) else type(exc).__name__
            result = {}
        except Exception as exc:  # the record must say it failed, whatever happened
            logger.error("backup task %s failed: %s", task_id, type(exc).__name__)
            error, result = "the task failed unexpectedly; see the server log", {}
        error = error or result.pop("problem", None)
        if error:  # audited before the record says so: who reads it finished sees the entry
            run.audit("backup.task_failed", action=task.action, error=error[:200])
        progress.write(
            force=True,
            status="failed" if error else "done",
            error=error[:_MAX_ERROR] if error else None,
            result=result,
            finished_at=_now().isoformat(),
        )


@dataclass(frozen=True)
class _Run:
    """What the work of a task is done with."""

    store: Store
    settings: Settings
    task: _Task
    by: Principal
    migrate: Migrator
    progress: _Progress

    def audit(self, what: str, **details: Any) -> None:
        """Record ``what`` on the task's backup in the live audit log, in the caller's name."""
        record_on_backup(
            self.store,
            what,
            self.task.backup_id,
            principal=self.by,
            details={"task": self.task.id, **details},
        )


def _verify(run: _Run) -> dict[str, Any]:
    task = run.task
    manifest = verify_backup(run.settings, task.kind, task.backup_id, progress=run.progress.fetched)
    run.progress.step(f"signature and {len(manifest['chunks'])} chunk(s) verified on every copy")
    run.audit("backup.verified")
    return {
        "chunks": len(manifest["chunks"]),
        "tables": manifest["tables"],
        "rows": sum(manifest["tables"].values()),
        "schema_revision": manifest["schema_revision"],
    }


def _restore(run: _Run) -> dict[str, Any]:
    task = run.task
    assert task.target_name is not None
    with run.store.read_sessions() as session:
        tombstones = tombstone_snapshot(session)
    report = restore(
        run.settings,
        kind=task.kind,
        target_url=restore_target_url(run.settings, task.kind, task.target_name),
        tombstones=tombstones,
        principal=run.by,
        backup_id=task.backup_id,
        migrate=run.migrate,
        progress=run.progress.fetched,
        on_step=run.progress.step,
    )
    run.audit("backup.restored", target=report.target, kind=task.kind)
    return report.as_dict()


def _drill(run: _Run) -> dict[str, Any]:
    record = run_drill(
        run.store,
        run.settings,
        principal=run.by,
        migrate=run.migrate,
        backup_id=run.task.backup_id,
        progress=run.progress.fetched,
        on_step=run.progress.step,
    )
    return {
        **record.report,
        "drill_id": record.drill_id,
        "rto_seconds": record.rto_seconds,
        "rpo_seconds": record.rpo_seconds,
        "problem": record.problem,
    }


_RUNS: dict[str, Callable[[_Run], dict[str, Any]]] = {
    "verify": _verify,
    "restore": _restore,
    "drill": _drill,
}

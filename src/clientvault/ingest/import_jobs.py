"""Imports run in the background: an uploaded file becomes a job whose progress can be read.

A customer base takes minutes to import, longer than a request should last. So the console's
upload (and the API's with ``?background=true``) is saved to the data directory (mode 0600,
as the databases), recorded as an ``ImportJob`` and imported by a thread of the server
process, with the very import the CLI runs (``bulk_import``). After each chunk commits, the
job's row takes the counts so far and a heartbeat, in a short transaction of its own; the
error report (row, line, reason — never values) is written beside the file as rows are
refused, and is downloadable while the job runs and after.

Why a thread of the server and not the worker: the upload lands on the server's disk (the
worker may run on another machine, and need not be running at all in development), and an
import is one long sequential write, with nothing for a scheduler to decide. What survives
a restart: the job's row and the uploaded file. A job cut off by a restart (running, but its
heartbeat older than ``STALE_AFTER``) shows as interrupted and can be resumed: the file is
imported again, and the rows already stored are skipped as duplicates (message ids derive
from the rows' content), so a resumed job ends as if it had never stopped. The file is
deleted once the job is done, or failed for a reason a second run would not change.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound
from clientvault.ingest.bulk_import import (
    ImportFailed,
    ImportSummary,
    import_customers,
    import_events,
)
from clientvault.ingest.models import ImportJob
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import new_id, utcnow
from clientvault.store.context import Store

__all__ = [
    "JOB_KINDS",
    "STALE_AFTER",
    "JobView",
    "create_job",
    "error_report",
    "get_job",
    "job_view",
    "list_jobs",
    "report_file",
    "resume_job",
    "run_job",
    "start_job",
]

JOB_KINDS = ("customers", "events")
#: A running job whose heartbeat is older than this was cut off (its server stopped).
STALE_AFTER = timedelta(minutes=2)
#: At most one progress write a second: a chunk of a small file takes a few milliseconds.
_PROGRESS_EVERY_S = 1.0
_MAX_FILE_NAME = 200
_MAX_ERROR = 500
_COUNTS = (
    "rows",
    "accepted",
    "duplicates",
    "rejected",
    "customers_created",
    "identifier_conflicts",
    "blocked_identifiers",
    "expiring",
)
logger = logging.getLogger(__name__)


def jobs_directory(settings: Settings) -> Path:
    """Where uploads wait and error reports stay: ``<data dir>/imports`` (owner only)."""
    directory = settings.data_dir / "imports"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def upload_file(settings: Settings, job_id: uuid.UUID) -> Path:
    """The uploaded file of a job, while it waits to be imported."""
    return jobs_directory(settings) / f"{job_id}.upload"


def report_file(settings: Settings, job_id: uuid.UUID) -> Path:
    """The error report of a job (CSV: row, line, reason), once its import has started."""
    return jobs_directory(settings) / f"{job_id}.errors.csv"


def create_job(
    session: Session,
    settings: Settings,
    *,
    kind: str,
    upload: BinaryIO,
    file_name: str,
    source: str,
    options: dict[str, Any],
    by: Principal,
) -> ImportJob:
    """Save an uploaded file and record its import as queued (audited), in the caller's
    transaction; ``start_job`` runs it once that transaction has committed."""
    if kind not in JOB_KINDS:
        raise InvalidInput(f"an import is of {' or '.join(JOB_KINDS)}")
    job = ImportJob(
        id=new_id(),
        kind=kind,
        status="queued",
        source=source,
        file_name=(Path(file_name).name or "upload")[:_MAX_FILE_NAME],
        options=options,
        created_by=by.id[:64],
        created_at=utcnow(),
        bytes_total=0,
        bytes_read=0,
        ignored_columns=[],
        **dict.fromkeys(_COUNTS, 0),
    )
    target = upload_file(settings, job.id)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        while block := upload.read(1024 * 1024):
            handle.write(block)
            job.bytes_total += len(block)
    session.add(job)
    audit.record(
        session,
        principal=by,
        action="import.queued",
        target_type="import_job",
        target_ids=[str(job.id)],
        details={"kind": kind, "bytes": job.bytes_total, "source": source},
    )
    return job


def error_report(session: Session, settings: Settings, job_id: uuid.UUID) -> Path:
    """A job's error report, for download, or ``NotFound`` (no such job, no report yet)."""
    get_job(session, job_id)
    path = report_file(settings, job_id)
    if not path.exists():
        raise NotFound("this import has no error report yet")
    return path


def get_job(session: Session, job_id: uuid.UUID) -> ImportJob:
    """One job, or ``NotFound``."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("no such import")
    return job


def list_jobs(session: Session, *, limit: int = 20) -> list[ImportJob]:
    """The latest jobs, newest first."""
    query = select(ImportJob).order_by(ImportJob.created_at.desc()).limit(limit)
    return list(session.scalars(query))


@dataclass(frozen=True)
class JobView:
    """What the console and the API show of a job."""

    id: uuid.UUID
    kind: str
    state: str  # queued, running, interrupted, done or failed
    source: str
    file_name: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    percent: int
    bytes_total: int
    bytes_read: int
    counts: dict[str, int]
    ignored_columns: list[str]
    error: str | None
    has_report: bool

    @property
    def finished(self) -> bool:
        """Whether nothing more will happen to the job without a resume."""
        return self.state in ("done", "failed", "interrupted")

    @property
    def resumable(self) -> bool:
        """Whether the job can be run again from its kept file."""
        return self.state in ("interrupted", "failed") and self.bytes_total > 0

    def as_json(self) -> dict[str, Any]:
        """The job as a JSON object (the API's answer)."""
        return {
            "id": str(self.id),
            "kind": self.kind,
            "state": self.state,
            "source": self.source,
            "file_name": self.file_name,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "percent": self.percent,
            "bytes_total": self.bytes_total,
            "bytes_read": self.bytes_read,
            **self.counts,
            "ignored_columns": self.ignored_columns,
            "error": self.error,
        }


def job_view(settings: Settings, job: ImportJob, *, now: datetime | None = None) -> JobView:
    """A job as shown: a running job with a stale heartbeat is ``interrupted``."""
    state = job.status
    beat = job.heartbeat_at or job.started_at or job.created_at
    if state == "running" and (now or utcnow()) - beat > STALE_AFTER:
        state = "interrupted"
    total = max(job.bytes_total, 1)
    percent = 100 if state == "done" else min(99, job.bytes_read * 100 // total)
    return JobView(
        id=job.id,
        kind=job.kind,
        state=state,
        source=job.source,
        file_name=job.file_name,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        percent=percent,
        bytes_total=job.bytes_total,
        bytes_read=job.bytes_read,
        counts={name: getattr(job, name) for name in _COUNTS},
        ignored_columns=list(job.ignored_columns or []),
        error=job.error,
        has_report=report_file(settings, job.id).exists(),
    )


def resume_job(session: Session, settings: Settings, job_id: uuid.UUID, *, by: Principal) -> None:
    """Queue an interrupted or failed job again (audited); ``start_job`` then runs it.
    Raises ``InvalidInput`` when the job cannot be resumed (done, running, file gone)."""
    job = get_job(session, job_id)
    view = job_view(settings, job)
    if not view.resumable or not upload_file(settings, job_id).exists():
        raise InvalidInput("only an interrupted or failed import whose file is kept can resume")
    claimed = session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status == job.status)
        .values(
            status="queued",
            error=None,
            bytes_read=0,
            heartbeat_at=None,
            **dict.fromkeys(_COUNTS, 0),
        )
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        raise InvalidInput("the import was resumed meanwhile")
    audit.record(
        session,
        principal=by,
        action="import.resumed",
        target_type="import_job",
        target_ids=[str(job_id)],
    )


def start_job(store: Store, settings: Settings, job_id: uuid.UUID) -> threading.Thread:
    """Run a queued job in a thread of this process (see the module's docstring)."""
    thread = threading.Thread(
        target=run_job, args=(store, settings, job_id), name=f"import-{job_id}", daemon=True
    )
    thread.start()
    return thread


def run_job(store: Store, settings: Settings, job_id: uuid.UUID) -> None:
    """Claim a queued job and import its file, recording progress; never raises (the job's
    row says how it ended)."""
    with store.sessions.begin() as session:
        now = utcnow()
        claimed = session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, finished_at=None)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return  # another thread or server took it
        job = get_job(session, job_id)
        kind, source, options = job.kind, job.source, dict(job.options or {})
    summary = ImportSummary()
    record = _progress_recorder(store, job_id, summary)
    path = upload_file(settings, job_id)
    keep_file = False
    error: str | None = None
    try:
        with path.open("rb") as stream:
            _import(store, settings, kind, stream, source, options, summary, job_id, record)
    except ImportFailed as exc:
        error, keep_file = exc.message, True  # the database failed: a resume may succeed
    except InvalidInput as exc:
        error = exc.message  # the file or its options: the same file would fail again
    except Exception as exc:  # the job's row must say it failed, whatever happened
        # The type only: a database error's message may quote a row's values.
        logger.error("import job %s failed: %s", job_id, type(exc).__name__)
        error, keep_file = "the import failed unexpectedly; see the server log", True
    record(final=True)
    with store.sessions.begin() as session:
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                status="failed" if error else "done",
                error=error[:_MAX_ERROR] if error else None,
                finished_at=utcnow(),
            )
        )
    if not keep_file:
        path.unlink(missing_ok=True)


def _import(
    store: Store,
    settings: Settings,
    kind: str,
    stream: BinaryIO,
    source: str,
    options: dict[str, Any],
    summary: ImportSummary,
    job_id: uuid.UUID,
    record: Callable[..., None],
) -> None:
    common: dict[str, Any] = {
        "stream": stream,
        "default_region": settings.default_phone_region,
        "identity": settings.identity,
        "source": source,
        "error_report": report_file(settings, job_id),
        "progress": lambda _bytes: record(bytes_read=stream.tell()),
        "url_parameters": settings.privacy.url_parameters,
        "summary": summary,
    }
    if kind == "customers":
        import_customers(
            store, mapping=options.get("mapping"), delimiter=options.get("delimiter"), **common
        )
    else:
        import_events(store, retention=settings.retention, **common)


def _progress_recorder(
    store: Store, job_id: uuid.UUID, summary: ImportSummary
) -> Callable[..., None]:
    """What writes a job's counts and heartbeat, at most once a second (and at the end)."""
    last = [0.0]
    read = [0]

    def record(*, bytes_read: int | None = None, final: bool = False) -> None:
        if bytes_read is not None:
            read[0] = bytes_read
        moment = time.monotonic()
        if not final and moment - last[0] < _PROGRESS_EVERY_S:
            return
        last[0] = moment
        values: dict[str, Any] = {name: getattr(summary, name) for name in _COUNTS}
        values |= {
            "bytes_read": read[0],
            "heartbeat_at": utcnow(),
            "ignored_columns": list(summary.ignored_columns),
        }
        with store.sessions.begin() as session:
            session.execute(update(ImportJob).where(ImportJob.id == job_id).values(values))

    return record

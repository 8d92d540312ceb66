"""The scheduler: runs the declared jobs (``store.schedule``) at their slots, one worker each.

Every job has a lease row (``scheduled_jobs``). A worker takes a due job by moving its next
run to the following slot and writing itself in as lease holder until the job's lease timeout,
in one write transaction: on PostgreSQL the row is selected ``FOR UPDATE SKIP LOCKED`` (a
worker never waits on another's claim, it moves on), on SQLite the writer's ``BEGIN
IMMEDIATE`` (``store.engine``) serialises the claims. A slot is thus taken once, whatever
the number of workers. The run's end frees the lease and records its status; a job that
raised is recorded with its error (exception type and message) and simply runs again at its
next slot. A worker killed mid-run leaves its lease, which expires after the job's timeout.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from clientvault.automation.models import ERROR_LENGTH, ScheduledJobState
from clientvault.errors import Conflict
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def worker_name() -> str:
    """A lease holder's name: host, process and a random suffix (two workers of one
    process differ)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    """Takes and runs the due jobs among ``jobs``; ``run_due`` is called by the worker loop."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        jobs: Sequence[ScheduledJob],
        *,
        owner: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"scheduled job names must be unique: {names}")
        self._store = store
        self._settings = settings
        self._jobs = {job.name: job for job in jobs if job.enabled(settings)}
        self._all = tuple(jobs)
        self.owner = owner or worker_name()
        self._clock = clock
        self._synced = False

    def run_due(self) -> int:
        """Run every enabled job whose slot has come and that no live lease holds;
        returns how many ran (failed runs included)."""
        if not self._synced:
            with self._store.sessions.begin() as session:
                sync_rows(session, self._all, self._settings, now=self._clock())
            self._synced = True
        ran = 0
        due = self._due_names()
        for job in [job for name, job in self._jobs.items() if name in due]:  # declared order
            if self._claim(job):
                self._run(job)
                ran += 1
        return ran

    def _due_names(self) -> set[str]:
        # A read first: most calls find nothing due and then take no write lock at all.
        if not self._jobs:
            return set()
        with self._store.read_sessions() as session, session.begin():
            due = select(ScheduledJobState.name).where(
                ScheduledJobState.name.in_(list(self._jobs)), *_due(self._clock())
            )
            return set(session.scalars(due))

    def _claim(self, job: ScheduledJob) -> bool:
        now = self._clock()
        with self._store.sessions.begin() as session:
            query = select(ScheduledJobState).where(ScheduledJobState.name == job.name, *_due(now))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = session.scalar(query)
            if row is None:
                return False  # another worker took this slot
            row.next_run_at = job.schedule_of(self._settings).next_after(now, self._settings.zone)
            row.lease_owner = self.owner
            row.lease_expires_at = now + job.lease
            row.last_started_at = now
            return True

    def _run(self, job: ScheduledJob) -> None:
        error = None
        try:
            job.run(self._store, self._settings)
        except Exception as exc:
            # Recorded and logged like any worker failure (our messages carry no personal
            # data, and the engine hides bound values); the job runs again at its next slot.
            logger.exception("scheduled job %s failed: %s", job.name, type(exc).__name__)
            error = f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]
        with self._store.sessions.begin() as session:
            released = session.execute(
                update(ScheduledJobState)
                .where(
                    ScheduledJobState.name == job.name,
                    ScheduledJobState.lease_owner == self.owner,
                )
                .values(
                    lease_owner=None,
                    lease_expires_at=None,
                    last_finished_at=self._clock(),
                    last_status="failed" if error else "ok",
                    last_error=error,
                    run_count=ScheduledJobState.run_count + 1,
                )
            )
        if not released.rowcount:  # type: ignore[attr-defined]
            logger.warning("scheduled job %s outlived its lease; its end is not recorded", job.name)


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A job is due when its slot has come and no unexpired lease holds it."""
    return (
        ScheduledJobState.next_run_at <= now,
        or_(
            ScheduledJobState.lease_expires_at.is_(None), ScheduledJobState.lease_expires_at <= now
        ),
    )


def sync_rows(
    session: Session, jobs: Sequence[ScheduledJob], settings: Settings, *, now: datetime
) -> None:
    """Give each job its lease row (first run per its schedule) and, when its schedule text
    changed in the settings, reschedule it from ``now``. Safe with several workers at once."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for job in jobs:
        text = job.schedule(settings)
        first = job.schedule_of(settings).first_run(now, settings.zone)
        session.execute(
            dialect_insert(ScheduledJobState)
            .values(name=job.name, schedule=text, next_run_at=first, run_count=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        session.execute(
            update(ScheduledJobState)
            .where(ScheduledJobState.name == job.name, ScheduledJobState.schedule != text)
            .values(schedule=text, next_run_at=first)
        )


def request_run(
    session: Session, job: ScheduledJob, settings: Settings, *, by: Principal, now: datetime
) -> None:
    """Make ``job`` due now (the next worker loop runs it, through the same lease as any
    slot, so asking twice still runs it once); audited. A job turned off is refused."""
    if not job.enabled(settings):
        raise Conflict(f"the scheduled job {job.name} is turned off in the settings")
    sync_rows(session, [job], settings, now=now)
    session.execute(
        update(ScheduledJobState)
        .where(ScheduledJobState.name == job.name, ScheduledJobState.next_run_at > now)
        .values(next_run_at=now)
    )
    audit.record(
        session,
        principal=by,
        action="job.run_requested",
        target_type="scheduled_job",
        target_ids=[job.name],
    )


class JobStatus(BaseModel):
    """One job as ``jobs list``, the API (its response body) and the console show it."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    schedule: str
    enabled: bool
    next_run_at: datetime | None
    leased_by: str | None
    lease_expires_at: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None
    last_error: str | None
    run_count: int


def job_statuses(
    session: Session, jobs: Sequence[ScheduledJob], settings: Settings, *, now: datetime
) -> list[JobStatus]:
    """Every declared job with its lease row (empty fields if no worker has seen it yet); a
    lease already expired is shown as free."""
    rows = {row.name: row for row in session.scalars(select(ScheduledJobState))}
    statuses = []
    for job in jobs:
        row = rows.get(job.name)
        held = row is not None and row.lease_expires_at is not None and row.lease_expires_at > now
        statuses.append(
            JobStatus(
                name=job.name,
                description=job.description,
                schedule=job.schedule(settings),
                enabled=job.enabled(settings),
                next_run_at=row.next_run_at if row else None,
                leased_by=row.lease_owner if row and held else None,
                lease_expires_at=row.lease_expires_at if row and held else None,
                last_started_at=row.last_started_at if row else None,
                last_finished_at=row.last_finished_at if row else None,
                last_status=row.last_status if row else None,
                last_error=row.last_error if row else None,
                run_count=row.run_count if row else 0,
            )
        )
    return statuses

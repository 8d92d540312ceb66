"""Automation's own scheduled job (the data-subject requests' deadline check), and the listing
and "run now" of every domain's jobs.

Each domain declares its jobs in its ``domain.py``; the faces hand the full list
(``clientvault.domains.JOBS``) to ``list_jobs`` and ``run_soon``, since this domain sits
below the list of domains.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from clientvault.automation import privacy_jobs
from clientvault.automation.scheduler import JobStatus, job_statuses, request_run
from clientvault.errors import NotFound
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob


def _check_deadlines(store: Store, settings: Settings) -> None:
    privacy_jobs.check_request_deadlines(store, settings.privacy)


DSR_DEADLINES = ScheduledJob(
    name="privacy.request-deadlines",
    description="Alert on data-subject requests due soon or overdue; drop expired links.",
    schedule=lambda settings: f"every {settings.privacy.deadline_check_minutes} minutes",
    run=_check_deadlines,
    lease=timedelta(minutes=5),
)


def list_jobs(
    session: Session,
    settings: Settings,
    jobs: Sequence[ScheduledJob],
    *,
    now: datetime | None = None,
) -> list[JobStatus]:
    """Every scheduled job with its last run, next run and lease holder (CLI, API, console)."""
    return job_statuses(session, jobs, settings, now=now or utcnow())


def run_soon(
    session: Session,
    settings: Settings,
    jobs: Sequence[ScheduledJob],
    name: str,
    *,
    by: Principal,
) -> None:
    """Have the job called ``name`` run at the workers' next loop ("run now"); audited."""
    job = next((job for job in jobs if job.name == name), None)
    if job is None:
        raise NotFound(f"no scheduled job is called {name!r}")
    request_run(session, job, settings, by=by, now=utcnow())

"""Scheduled jobs (``/console/security/jobs``), for administrators: what the workers run on
a timer, when each ran last and how it went, when it runs next and which worker holds it.
"Run now" is its own POST (CSRF-checked by ``Authorize``), recorded in the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clientvault.automation.jobs import list_jobs, run_soon
from clientvault.domains import JOBS
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.store.schedule import JOB_NAME_PATTERN
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/security", include_in_schema=False)
ManageSettings = Annotated[Caller, Depends(Authorize("settings:manage"))]
JobName = Annotated[str, Path(pattern=JOB_NAME_PATTERN)]
JOBS_PATH = f"{CONSOLE_PREFIX}/security/jobs"


@router.get("/jobs", response_class=HTMLResponse, name="console_jobs")
def jobs_page(
    request: Request,
    caller: ManageSettings,
    store: StoreDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(pattern=JOB_NAME_PATTERN)] = None,
) -> Response:
    """Every scheduled job with its schedule, last run, status and next run."""
    with store.read_sessions() as session, session.begin():
        jobs = list_jobs(session, settings, JOBS)
    return render(
        request,
        "security/jobs.html",
        {
            "title": "Scheduled jobs",
            "jobs": jobs,
            "timezone": settings.timezone,
            "notice": f"The job {done} will run at the workers' next loop." if done else None,
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
        },
    )


@router.post("/jobs/{name}/run", name="console_job_run")
def run_now(
    name: JobName, caller: ManageSettings, store: StoreDep, settings: SettingsDep
) -> RedirectResponse:
    """Make a job due now, then back to the list."""
    with store.sessions.begin() as session:
        run_soon(session, settings, JOBS, name, by=caller.principal)
    return RedirectResponse(f"{JOBS_PATH}?done={name}", status_code=303)

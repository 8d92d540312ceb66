"""Scheduled jobs (``/console/security/jobs``), for administrators: what the workers run on
a timer, when each ran last and how it went, when it runs next and which worker holds it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from clientvault.automation.jobs import list_jobs
from clientvault.web.auth import Authorize, Caller
from clientvault.web.deps import SettingsDep, StoreDep
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/security", include_in_schema=False)
ManageSettings = Annotated[Caller, Depends(Authorize("settings:manage"))]


@router.get("/jobs", response_class=HTMLResponse, name="console_jobs")
def jobs_page(
    request: Request, caller: ManageSettings, store: StoreDep, settings: SettingsDep
) -> Response:
    """Every scheduled job with its schedule, last run, status and next run."""
    with store.read_sessions() as session, session.begin():
        jobs = list_jobs(session, settings)
    return render(
        request,
        "security/jobs.html",
        {"title": "Scheduled jobs", "jobs": jobs, "timezone": settings.timezone},
    )

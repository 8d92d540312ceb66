"""The scheduled jobs the workers run, for administrators: list them, ask for a run now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from clientvault.automation.jobs import list_jobs, run_soon
from clientvault.automation.scheduler import JobStatus
from clientvault.domains import JOBS
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, get_store
from clientvault.store.schedule import JOB_NAME_PATTERN

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
ManageSettings = Annotated[Caller, Depends(Authorize("settings:manage"))]
JobName = Annotated[str, Path(pattern=JOB_NAME_PATTERN)]


@router.get("", response_model=list[JobStatus])
def jobs(request: Request, caller: ManageSettings, settings: SettingsDep) -> list[JobStatus]:
    """Every scheduled job, in the order a worker runs them."""
    with get_store(request).read_sessions() as session:
        return list_jobs(session, settings, JOBS)


@router.post("/{name}/run", status_code=202)
def run_now(
    name: JobName, request: Request, caller: ManageSettings, settings: SettingsDep
) -> Response:
    """Make a job due now: a worker runs it at its next loop (once, however often asked)."""
    with get_store(request).sessions.begin() as session:
        run_soon(session, settings, JOBS, name, by=caller.principal)
    return Response(status_code=202)

"""The scheduled jobs the workers run, for administrators: list them, ask for a run now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel

from clientvault.automation.jobs import list_jobs, run_soon
from clientvault.store.schedule import JOB_NAME_PATTERN
from clientvault.web.auth import Authorize, Caller
from clientvault.web.deps import SettingsDep, get_store

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
ManageSettings = Annotated[Caller, Depends(Authorize("settings:manage"))]
JobName = Annotated[str, Path(pattern=JOB_NAME_PATTERN)]


class JobRead(BaseModel):
    """One scheduled job: its schedule, its last and next run and who holds it now."""

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


@router.get("", response_model=list[JobRead])
def jobs(request: Request, caller: ManageSettings, settings: SettingsDep) -> list[JobRead]:
    """Every scheduled job, in the order a worker runs them."""
    with get_store(request).read_sessions() as session:
        return [
            JobRead.model_validate(job, from_attributes=True)
            for job in list_jobs(session, settings)
        ]


@router.post("/{name}/run", status_code=202)
def run_now(
    name: JobName, request: Request, caller: ManageSettings, settings: SettingsDep
) -> Response:
    """Make a job due now: a worker runs it at its next loop (once, however often asked)."""
    with get_store(request).sessions.begin() as session:
        run_soon(session, settings, name, by=caller.principal)
    return Response(status_code=202)

"""Backups for administrators (``keys:manage``): the catalogue per target with sizes, the
last drill with its RTO/RPO, open backup alerts; ask for a backup or a drill now (the
worker runs it: both can take minutes); verify one backup's checksums; and background tasks
on a chosen backup (``backup.tasks``): restore it into a new file or an empty database
(never over the live one: that is ``clientvault restore --force``), drill it, verify it,
with progress and the checks' results at ``/api/v1/backups/tasks/ID``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from clientvault.automation.jobs import run_soon
from clientvault.backup.jobs import BACKUPS, DRILLS
from clientvault.backup.restore import verify_recorded
from clientvault.backup.status import BackupOverview, overview
from clientvault.backup.tasks import BackupTaskRead, get_task, list_tasks, queue_task, start_task
from clientvault.domains import JOBS
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, get_store
from clientvault.migrations.install import migrate

router = APIRouter(prefix="/api/v1/backups", tags=["backups"])
ManageBackups = Annotated[Caller, Depends(Authorize("keys:manage"))]
ID_PATTERN = r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$"
BackupId = Annotated[str, Path(pattern=ID_PATTERN)]


class TaskRequest(BaseModel):
    """A task on one backup: ``restore`` it into ``target`` (a new file name under the data
    directory's ``restores/`` on SQLite, an empty database on the live PostgreSQL server),
    ``drill`` it (a data backup, restored into scratch) or ``verify`` it."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["restore", "drill", "verify"]
    kind: Literal["data", "keystore"] = "data"
    backup_id: str = Field(pattern=ID_PATTERN)
    target: str | None = Field(default=None, min_length=1, max_length=64)


@router.get("", response_model=BackupOverview)
def backups(
    request: Request,
    caller: ManageBackups,
    settings: SettingsDep,
    probe: Annotated[bool, Query(description="Also write a probe to each target.")] = False,
) -> BackupOverview:
    """Backups per target with sizes, the last drill (RTO/RPO) and open backup alerts."""
    with get_store(request).read_sessions() as session:
        return overview(session, settings, probe=probe)


@router.post("/run", status_code=202)
def back_up_now(request: Request, caller: ManageBackups, settings: SettingsDep) -> Response:
    """Make the backup job due now: a worker backs up the data and the keystore."""
    with get_store(request).sessions.begin() as session:
        run_soon(session, settings, JOBS, BACKUPS.name, by=caller.principal)
    return Response(status_code=202)


@router.post("/drill", status_code=202)
def drill_now(request: Request, caller: ManageBackups, settings: SettingsDep) -> Response:
    """Make the restore drill due now: a worker restores the newest backup into scratch."""
    with get_store(request).sessions.begin() as session:
        run_soon(session, settings, JOBS, DRILLS.name, by=caller.principal)
    return Response(status_code=202)


@router.post("/{kind}/{backup_id}/verify")
def verify(
    kind: Literal["data", "keystore"],
    backup_id: BackupId,
    request: Request,
    caller: ManageBackups,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Check a backup's signature and every chunk's SHA-256 on each target it is complete
    on, and that it decrypts to its snapshot; 409 naming the file at fault otherwise."""
    manifest = verify_recorded(
        get_store(request), settings, kind, backup_id, principal=caller.principal
    )
    return {
        "backup_id": backup_id,
        "chunks": len(manifest["chunks"]),
        "tables": manifest["tables"],
        "schema_revision": manifest["schema_revision"],
    }


@router.post("/tasks", status_code=202, response_model=BackupTaskRead)
def ask_for_task(
    body: TaskRequest, request: Request, caller: ManageBackups, settings: SettingsDep
) -> JSONResponse:
    """Restore, drill or verify a backup in the background (audited): 202 with the task and
    its URL (``Location``). Refused at once: 409 for a backup that is not complete, a target
    that exists, holds data or is the live database, or another task still running; 403 for
    a restore or drill by someone without ``privacy:manage`` and ``pii:reveal``."""
    store = get_store(request)
    task = queue_task(
        store,
        settings,
        action=body.action,
        kind=body.kind,
        backup_id=body.backup_id,
        target=body.target,
        by=caller.principal,
    )
    start_task(store, settings, task.id, by=caller.principal, migrate=migrate)
    return JSONResponse(
        task.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"{router.prefix}/tasks/{task.id}"},
    )


@router.get("/tasks", response_model=list[BackupTaskRead])
def tasks(caller: ManageBackups, settings: SettingsDep) -> list[BackupTaskRead]:
    """The latest backup tasks, newest first."""
    return list_tasks(settings)


@router.get("/tasks/{task_id}", response_model=BackupTaskRead)
def task(
    task_id: Annotated[str, Path(pattern=ID_PATTERN)], caller: ManageBackups, settings: SettingsDep
) -> BackupTaskRead:
    """One task: its state, percent, bytes verified, steps done and, once finished, what was
    checked (row counts, audit entries verified, the sample decrypt, a drill's RTO/RPO) or
    why it failed. ``interrupted``: its server stopped (a restore's target stays marked
    unusable)."""
    return get_task(settings, task_id)

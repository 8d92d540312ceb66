"""Backups for administrators (``keys:manage``): the catalogue per target with sizes, the
last drill with its RTO/RPO, open backup alerts; ask for a backup or a drill now (the
worker runs it: both can take minutes); verify one backup's checksums."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from clientvault.automation.jobs import run_soon
from clientvault.backup.jobs import BACKUPS, DRILLS
from clientvault.backup.restore import verify_recorded
from clientvault.backup.status import BackupOverview, overview
from clientvault.domains import JOBS
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, get_store

router = APIRouter(prefix="/api/v1/backups", tags=["backups"])
ManageBackups = Annotated[Caller, Depends(Authorize("keys:manage"))]
BackupId = Annotated[str, Path(pattern=r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")]


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

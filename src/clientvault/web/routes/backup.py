"""Backups (``/console/security/backups``), for administrators (``keys:manage``): backups
per target with sizes, the last restore drill with its RTO and RPO, open backup alerts, and
"back up now" / "drill now" (POSTs, CSRF-checked by ``Authorize``, run by a worker)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clientvault.automation.jobs import run_soon
from clientvault.backup.jobs import BACKUPS, DRILLS
from clientvault.backup.status import overview
from clientvault.domains import JOBS
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/security", include_in_schema=False)
ManageBackups = Annotated[Caller, Depends(Authorize("keys:manage"))]
BACKUPS_PATH = f"{CONSOLE_PREFIX}/security/backups"
_NOTICES = {
    "backup": "A backup will start at the workers' next loop.",
    "drill": "A restore drill will start at the workers' next loop.",
}


@router.get("/backups", response_class=HTMLResponse, name="console_backups")
def backups_page(
    request: Request,
    caller: ManageBackups,
    store: StoreDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(pattern="^(backup|drill)$")] = None,
    probe: bool = False,
) -> Response:
    """The catalogue per target, the last drill and the open alerts."""
    with store.read_sessions() as session:
        state = overview(session, settings, probe=probe)
    return render(
        request,
        "security/backups.html",
        {
            "title": "Backups",
            "state": state,
            "probed": probe,
            "notice": _NOTICES.get(done or ""),
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
        },
    )


@router.post("/backups/run", name="console_backup_run")
def back_up_now(caller: ManageBackups, store: StoreDep, settings: SettingsDep) -> RedirectResponse:
    """Make the backup job due now, then back to the page."""
    with store.sessions.begin() as session:
        run_soon(session, settings, JOBS, BACKUPS.name, by=caller.principal)
    return RedirectResponse(f"{BACKUPS_PATH}?done=backup", status_code=303)


@router.post("/backups/drill", name="console_backup_drill")
def drill_now(caller: ManageBackups, store: StoreDep, settings: SettingsDep) -> RedirectResponse:
    """Make the restore drill due now, then back to the page."""
    with store.sessions.begin() as session:
        run_soon(session, settings, JOBS, DRILLS.name, by=caller.principal)
    return RedirectResponse(f"{BACKUPS_PATH}?done=drill", status_code=303)

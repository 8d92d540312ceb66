"""Backups (``/console/security/backups``), for administrators (``keys:manage``): backups
per target with sizes, the last restore drill with its RTO and RPO, open backup alerts, and
"back up now" / "drill now" (POSTs, CSRF-checked by ``Authorize``, run by a worker); and, on
a chosen backup, restore it into a new file or an empty database (never over the live one),
drill or verify it: a background task (``backup.tasks``) whose page shows its progress and,
once done, what was checked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from clientvault.automation.jobs import run_soon
from clientvault.backup.create import url_of
from clientvault.backup.jobs import BACKUPS, DRILLS
from clientvault.backup.snapshot import backend_of
from clientvault.backup.status import overview
from clientvault.backup.tasks import get_task, list_tasks, queue_task, start_task
from clientvault.domains import JOBS
from clientvault.errors import ClientVaultError
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.http.errors import status_for
from clientvault.migrations.install import migrate
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/security", include_in_schema=False)
ManageBackups = Annotated[Caller, Depends(Authorize("keys:manage"))]
BACKUPS_PATH = f"{CONSOLE_PREFIX}/security/backups"
TaskId = Annotated[str, Path(pattern=r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")]
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
    """The catalogue per target, the last drill, the open alerts and the latest tasks."""
    return _page(request, caller, store, settings, notice=_NOTICES.get(done or ""), probe=probe)


def _page(
    request: Request,
    caller: Caller,
    store: Store,
    settings: Settings,
    *,
    notice: str | None = None,
    error: str | None = None,
    probe: bool = False,
    status_code: int = 200,
) -> Response:
    with store.read_sessions() as session:
        state = overview(session, settings, probe=probe)
    return render(
        request,
        "security/backups.html",
        {
            "title": "Backups",
            "state": state,
            "tasks": list_tasks(settings, limit=10),
            "restores_on": {
                kind: backend_of(url_of(settings, kind)) for kind in ("data", "keystore")
            },
            "restores_dir": settings.data_dir / "restores",
            "probed": probe,
            "notice": notice,
            "error": error,
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
        },
        status_code=status_code,
    )


@router.post("/backups/tasks", name="console_backup_task")
def ask_for_task(
    request: Request,
    caller: ManageBackups,
    store: StoreDep,
    settings: SettingsDep,
    action: Annotated[str, Form(max_length=16)],
    backup_id: Annotated[str, Form(max_length=32)],
    kind: Annotated[str, Form(max_length=16)] = "data",
    target: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Restore, drill or verify a backup in the background, then its progress page; refused
    (the page again, saying why) before anything is written."""
    try:
        task = queue_task(
            store,
            settings,
            action=action,
            kind=kind,
            backup_id=backup_id,
            target=target.strip() or None,
            by=caller.principal,
        )
    except ClientVaultError as exc:
        return _page(
            request, caller, store, settings, error=exc.message, status_code=status_for(exc)
        )
    start_task(store, settings, task.id, by=caller.principal, migrate=migrate)
    return RedirectResponse(f"{BACKUPS_PATH}/tasks/{task.id}", status_code=303)


@router.get(
    "/backups/tasks/{task_id}", response_class=HTMLResponse, name="console_backup_task_page"
)
def task_page(
    task_id: TaskId, request: Request, caller: ManageBackups, settings: SettingsDep
) -> Response:
    """One task: its progress (``console.js`` polls ``/status`` while it runs), the steps
    done and what was checked."""
    return render(
        request,
        "security/backup_task.html",
        {"title": "Backup task", "task": get_task(settings, task_id)},
    )


@router.get("/backups/tasks/{task_id}/status", name="console_backup_task_status")
def task_status(task_id: TaskId, caller: ManageBackups, settings: SettingsDep) -> JSONResponse:
    """The task's state and percent, for its page to poll."""
    body = get_task(settings, task_id).model_dump(mode="json")
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


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

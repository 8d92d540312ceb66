"""Importing customers from the console (``/console/imports``): an upload becomes a
background job (``ingest.import_jobs``) whose page shows its progress as it goes, and whose
error report (row, line, reason — never values) downloads as CSV.

The upload is a multipart form: ``Authorize`` reads the CSRF token of such a request from the
``X-CSRF-Token`` header only (the body streams to the route untouched), so ``console.js``
sends the form with that header; the page says so when scripts are off.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from clientvault.errors import InvalidInput
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.ingest.bulk_import import ImportOptionsError
from clientvault.ingest.import_jobs import (
    create_job,
    error_report,
    get_job,
    job_view,
    list_jobs,
    resume_job,
    start_job,
)
from clientvault.ingest.import_mapping import parse_mapping_json
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/imports", include_in_schema=False)
Importer = Annotated[Caller, Depends(Authorize("customers:write"))]
IMPORTS_PATH = f"{CONSOLE_PREFIX}/imports"
#: The largest upload the console takes (the API's limit too).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_FIELDS = {"file", "source", "mapping", "delimiter"}


class _TooLarge(Exception):
    def __init__(self) -> None:
        super().__init__(f"files are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")


async def _limited(request: Request) -> AsyncGenerator[bytes, None]:
    """The request body, refused past ``MAX_UPLOAD_BYTES`` (whatever Content-Length said)."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_UPLOAD_BYTES:
            raise _TooLarge
        yield chunk


def _token(caller: Caller) -> str:
    return caller.staff_session.csrf_token if caller.staff_session else ""


def _page(
    request: Request,
    caller: Caller,
    store: StoreDep,
    settings: SettingsDep,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with store.read_sessions() as session, session.begin():
        jobs = [job_view(settings, job) for job in list_jobs(session)]
    return render(
        request,
        "imports/imports.html",
        {
            "title": "Import customers",
            "jobs": jobs,
            "error": error,
            "csrf_token": _token(caller),
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse, name="console_imports")
def imports_page(
    request: Request, caller: Importer, store: StoreDep, settings: SettingsDep
) -> Response:
    """The upload form and the latest imports with their state."""
    return _page(request, caller, store, settings)


@router.post("", name="console_import_upload")
async def upload(
    request: Request, caller: Importer, store: StoreDep, settings: SettingsDep
) -> Response:
    """Save the uploaded CSV as a queued job, start it, and go to its progress page."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        error = str(_TooLarge())
        return _page(request, caller, store, settings, error=error, status_code=413)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        error = "send the file as multipart/form-data"
        return _page(request, caller, store, settings, error=error, status_code=415)
    parser = MultiPartParser(request.headers, _limited(request), max_files=1, max_fields=4)
    try:
        form = await parser.parse()
    except (MultiPartException, _TooLarge) as exc:
        status = 413 if isinstance(exc, _TooLarge) else 400
        return _page(request, caller, store, settings, error=str(exc), status_code=status)
    try:
        upload_part = form.get("file")
        unknown = set(form.keys()) - _FIELDS
        if unknown or not isinstance(upload_part, UploadFile) or not upload_part.filename:
            raise InvalidInput("choose a CSV file to import")
        options: dict[str, object] = {}
        mapping = form.get("mapping")
        if isinstance(mapping, str) and mapping.strip():
            options["mapping"] = parse_mapping_json(mapping.encode())
        delimiter = form.get("delimiter")
        if isinstance(delimiter, str) and delimiter.strip():
            text = delimiter.replace("\\t", "\t")
            if len(text) != 1:
                raise ImportOptionsError("the delimiter is one character")
            options["delimiter"] = text
        source_field = form.get("source")
        source = (source_field.strip() if isinstance(source_field, str) else "") or "import"
        if len(source) > 64:
            raise ImportOptionsError("a source name is 1 to 64 characters")

        def save() -> uuid.UUID:
            with store.sessions.begin() as session:
                job = create_job(
                    session,
                    settings,
                    kind="customers",
                    upload=upload_part.file,
                    file_name=upload_part.filename or "upload.csv",
                    source=source,
                    options=options,
                    by=caller.principal,
                )
                return job.id

        job_id = await run_in_threadpool(save)
    except InvalidInput as exc:
        return _page(request, caller, store, settings, error=exc.message, status_code=400)
    finally:
        await form.close()
    start_job(store, settings, job_id)
    return RedirectResponse(f"{IMPORTS_PATH}/{job_id}", status_code=303)


@router.get("/{job_id}", response_class=HTMLResponse, name="console_import_job")
def job_page(
    job_id: uuid.UUID, request: Request, caller: Importer, store: StoreDep, settings: SettingsDep
) -> Response:
    """One import: its state, progress and counts (``console.js`` polls ``/status`` while it
    runs), and its error report."""
    with store.read_sessions() as session, session.begin():
        view = job_view(settings, get_job(session, job_id))
    return render(
        request,
        "imports/job.html",
        {"title": "Import", "job": view, "csrf_token": _token(caller)},
    )


@router.get("/{job_id}/status", name="console_import_status")
def job_status(
    job_id: uuid.UUID, caller: Importer, store: StoreDep, settings: SettingsDep
) -> JSONResponse:
    """The job's state and counts, for the progress page to poll."""
    with store.read_sessions() as session, session.begin():
        view = job_view(settings, get_job(session, job_id))
    body = view.as_json() | {"finished": view.finished}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/{job_id}/errors.csv", name="console_import_errors")
def job_errors(
    job_id: uuid.UUID, caller: Importer, store: StoreDep, settings: SettingsDep
) -> Response:
    """The error report (CSV: row, line, reason), as far as the import has gone."""
    with store.read_sessions() as session, session.begin():
        path = error_report(session, settings, job_id)
    return FileResponse(
        path,
        media_type="text/csv",
        filename=f"import-{job_id}-errors.csv",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/{job_id}/resume", name="console_import_resume")
def resume(
    job_id: uuid.UUID, caller: Importer, store: StoreDep, settings: SettingsDep
) -> RedirectResponse:
    """Run an interrupted or failed import again from its kept file (rows already stored
    are skipped as duplicates)."""
    with store.sessions.begin() as session:
        resume_job(session, settings, job_id, by=caller.principal)
    start_job(store, settings, job_id)
    return RedirectResponse(f"{IMPORTS_PATH}/{job_id}", status_code=303)

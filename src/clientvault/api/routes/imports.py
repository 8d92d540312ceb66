"""Bulk import over HTTP: ``POST /api/v1/imports/customers`` (CSV) and ``/events`` (JSON lines).

The upload (``multipart/form-data``: ``file``, optional ``mapping`` JSON, ``source``,
``delimiter``) is streamed to a temporary file — never held in memory — and refused with 413
past ``MAX_UPLOAD_BYTES``. The import then runs in a worker thread with the same service as
the CLI; the answer comes once it is done and carries the summary and the rejected rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.http.errors import error_body
from clientvault.ingest.bulk_import import (
    ImportOptionsError,
    ImportSummary,
    import_customers,
    import_events,
)
from clientvault.ingest.import_jobs import create_job, error_report, get_job, job_view, start_job
from clientvault.ingest.import_mapping import parse_mapping_json
from clientvault.settings import IdentitySettings, RetentionSettings, Settings
from clientvault.store.context import Store

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_FIELDS = {"customers": ("file", "mapping", "source", "delimiter"), "events": ("file", "source")}


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = JSONResponse(error_body(code, message), status_code=status)


def _too_large() -> _Refused:
    return _Refused(
        413, "payload_too_large", f"uploads are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
    )


async def _limited(request: Request) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_UPLOAD_BYTES:
            raise _too_large()
        yield chunk


async def _form(request: Request, kind: str) -> FormData:
    """The multipart form, its file spooled to a temporary file as it arrives."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise _Refused(415, "unsupported_media_type", "send the file as multipart/form-data")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise _too_large()
    parser = MultiPartParser(request.headers, _limited(request), max_files=1, max_fields=3)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise _Refused(400, "malformed_upload", exc.message) from None
    unknown = sorted(set(form.keys()) - set(_FIELDS[kind]))
    if unknown:
        await form.close()
        raise _Refused(400, "invalid_input", f"unknown form field(s): {', '.join(unknown)}")
    if not isinstance(form.get("file"), UploadFile):
        await form.close()
        raise _Refused(400, "invalid_input", "the form needs a `file` part holding the file")
    return form


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _body(summary: ImportSummary) -> dict[str, Any]:
    return {
        "rows": summary.rows,
        "accepted": summary.accepted,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected,
        "customers_created": summary.customers_created,
        "identifier_conflicts": summary.identifier_conflicts,
        "blocked_identifiers": summary.blocked_identifiers,
        "seconds": round(summary.seconds, 3),
        "ignored_columns": list(summary.ignored_columns),
        "rejections": [
            {"row": r.row, "line": r.line, "reason": r.reason} for r in summary.rejections
        ],
        "rejections_truncated": len(summary.rejections) < summary.rejected,
        # Stored rows the next retention run purges at once (orders past the accounting period).
        "expiring": summary.expiring,
    }


def _answer(summary: ImportSummary) -> JSONResponse:
    if summary.imported_nothing:
        body = error_body(
            "nothing_imported", "no row of the file could be imported", _body(summary)
        )
        return JSONResponse(body, status_code=422)
    return JSONResponse(_body(summary))


async def _import(request: Request, kind: str, caller: Caller, background: bool) -> JSONResponse:
    try:
        form = await _form(request, kind)
    except _Refused as refused:
        return refused.response
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    upload = form["file"]
    assert isinstance(upload, UploadFile)
    if background:
        try:
            return await run_in_threadpool(_queue, store, settings, kind, form, upload, caller)
        finally:
            await form.close()
    try:
        source = _text(form, "source") or "import"
        if kind == "customers":
            mapping_text = _text(form, "mapping")
            summary = await run_in_threadpool(
                _customers,
                store,
                upload.file,
                default_region=settings.default_phone_region,
                identity=settings.identity,
                source=source,
                mapping=parse_mapping_json(mapping_text.encode()) if mapping_text else None,
                delimiter=_text(form, "delimiter"),
                url_parameters=settings.privacy.url_parameters,
            )
        else:
            summary = await run_in_threadpool(
                _events,
                store,
                upload.file,
                default_region=settings.default_phone_region,
                identity=settings.identity,
                source=source,
                retention=settings.retention,
                url_parameters=settings.privacy.url_parameters,
            )
    finally:
        await form.close()
    return _answer(summary)


def _queue(
    store: Store,
    settings: Settings,
    kind: str,
    form: FormData,
    upload: UploadFile,
    caller: Caller,
) -> JSONResponse:
    """Save the upload as a background job (``ingest.import_jobs``), start it, answer 202."""
    source = _text(form, "source") or "import"
    if len(source) > 64:
        raise ImportOptionsError("a source name is 1 to 64 characters")
    options: dict[str, Any] = {}
    mapping_text = _text(form, "mapping")
    if mapping_text:
        options["mapping"] = parse_mapping_json(mapping_text.encode())
    delimiter = _text(form, "delimiter")
    if delimiter:
        if len(delimiter) != 1:
            raise ImportOptionsError("the delimiter is one character")
        options["delimiter"] = delimiter
    upload.file.seek(0)
    with store.sessions.begin() as session:
        job = create_job(
            session,
            settings,
            kind=kind,
            upload=upload.file,
            file_name=upload.filename or "upload",
            source=source,
            options=options,
            by=caller.principal,
        )
        view = job_view(settings, job)
    start_job(store, settings, job.id)
    location = f"{router.prefix}/jobs/{job.id}"
    return JSONResponse(view.as_json(), status_code=202, headers={"Location": location})


def _customers(
    store: Store,
    stream: BinaryIO,
    *,
    default_region: str,
    identity: IdentitySettings,
    source: str,
    mapping: dict[str, str] | None,
    delimiter: str | None,
    url_parameters: list[str],
) -> ImportSummary:
    stream.seek(0)
    return import_customers(
        store,
        stream=stream,
        default_region=default_region,
        identity=identity,
        source=source,
        mapping=mapping,
        delimiter=delimiter,
        url_parameters=url_parameters,
    )


def _events(
    store: Store,
    stream: BinaryIO,
    *,
    default_region: str,
    identity: IdentitySettings,
    source: str,
    retention: RetentionSettings,
    url_parameters: list[str],
) -> ImportSummary:
    stream.seek(0)
    return import_events(
        store,
        stream=stream,
        default_region=default_region,
        identity=identity,
        source=source,
        retention=retention,
        url_parameters=url_parameters,
    )


def _upload_schema(*extra: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary"},
        "source": {"type": "string", "maxLength": 64},
    }
    if "mapping" in extra:
        properties["mapping"] = {
            "type": "string",
            "description": 'JSON object {"target": "CSV header"} completing the default mapping',
        }
    if "delimiter" in extra:
        properties["delimiter"] = {"type": "string", "maxLength": 1}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": properties,
                        "additionalProperties": False,  # other fields are refused (400)
                    }
                }
            },
        }
    }


Background = Annotated[
    bool,
    Query(
        description="Answer 202 at once with the import's job (its URL in Location) and run "
        "the import in the background, rather than answering when it is done."
    ),
]


@router.post("/customers", openapi_extra=_upload_schema("mapping", "delimiter"))
async def upload_customers(
    request: Request,
    caller: Annotated[Caller, Depends(Authorize("customers:write"))],
    background: Background = False,
) -> JSONResponse:
    """Import customers from an uploaded CSV file (UTF-8, header first) as identify calls.

    Rows that cannot be imported are listed with their row, line and reason (never their
    values); the others are stored. Uploading the same file again stores nothing twice.
    With ``background=true``: 202 and the job, whose URL gives its progress.
    """
    return await _import(request, "customers", caller, background)


@router.post("/events", openapi_extra=_upload_schema())
async def upload_events(
    request: Request,
    caller: Annotated[Caller, Depends(Authorize("sources:manage"))],
    background: Background = False,
) -> JSONResponse:
    """Import events from an uploaded JSON-lines file (one tracking-spec message a line).
    With ``background=true``: 202 and the job, as for customers."""
    return await _import(request, "events", caller, background)


@router.get("/jobs/{job_id}")
def import_job(
    job_id: uuid.UUID,
    store: StoreDep,
    settings: SettingsDep,
    caller: Annotated[Caller, Depends(Authorize("customers:write"))],
) -> JSONResponse:
    """A background import: its state (queued, running, interrupted, done, failed), the
    share of the file read, and its counts so far."""
    with store.read_sessions() as session, session.begin():
        view = job_view(settings, get_job(session, job_id))
    return JSONResponse(view.as_json() | {"errors_url": f"{router.prefix}/jobs/{job_id}/errors"})


@router.get("/jobs/{job_id}/errors", response_class=FileResponse)
def import_job_errors(
    job_id: uuid.UUID,
    store: StoreDep,
    settings: SettingsDep,
    caller: Annotated[Caller, Depends(Authorize("customers:write"))],
) -> FileResponse:
    """A background import's error report as CSV (row, line, reason — never values)."""
    with store.read_sessions() as session, session.begin():
        path = error_report(session, settings, job_id)
    return FileResponse(path, media_type="text/csv", filename=f"import-{job_id}-errors.csv")

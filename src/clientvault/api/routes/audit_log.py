"""Reading, filtering, exporting and verifying the audit log.

The list takes the console's filters (actor, kind of actor, action, customer, date range:
``http.audit_filter``) and is paged the API's one way (``limit``, ``before``, a ``Link``
header to the next page: ``http.paging``). ``grouped=true`` leaves system jobs' reveals out
of the list; ``/audit/job-runs`` sums them per run. The CSV export is itself audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from clientvault.http.audit_filter import Filter, csv_export
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, get_store
from clientvault.http.paging import link_next
from clientvault.http.params import BeforeId
from clientvault.security import audit, audit_checkpoints
from clientvault.security.audit_query import RevealRun, entries_page, job_reveal_runs
from clientvault.security.schemas import AuditEntryRead

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
ReadAudit = Annotated[Caller, Depends(Authorize("audit:read"))]


@router.get("", response_model=list[AuditEntryRead])
def entries(
    request: Request,
    response: Response,
    caller: ReadAudit,
    wanted: Filter,
    before: BeforeId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEntryRead]:
    """The newest entries within the filter (before an id), paged."""
    with get_store(request).read_sessions() as session, session.begin():
        page = entries_page(session, wanted, limit=limit, before=before)
        found = [AuditEntryRead.model_validate(entry) for entry in page.entries]
    if page.older_than is not None:
        link_next(request, response, before=str(page.older_than))
    return found


@router.get("/job-runs", response_model=list[RevealRun])
def job_runs(request: Request, caller: ReadAudit, wanted: Filter) -> list[RevealRun]:
    """System jobs' reveals within the filter, summed per run (newest first, at most 50)."""
    with get_store(request).read_sessions() as session, session.begin():
        runs = job_reveal_runs(session, wanted)
    return runs


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The entries as CSV."}},
)
def export(request: Request, caller: ReadAudit, wanted: Filter) -> StreamingResponse:
    """Every entry within the filter as CSV, oldest first, hashes included (for auditors);
    the export is recorded in the log first."""
    return csv_export(get_store(request), wanted, principal=caller.principal)


@router.get("/verify")
def verify(
    request: Request,
    caller: ReadAudit,
    settings: SettingsDep,
    expected_head: Annotated[str | None, Query(min_length=64, max_length=64)] = None,
) -> dict[str, Any]:
    """Check the whole chain, against the signed checkpoints when a directory is configured;
    name the first broken entry, if any."""
    store = get_store(request)
    with store.read_sessions() as session:
        result = audit_checkpoints.verify(
            store, session, settings.audit, expected_head=expected_head
        )
    return {
        "ok": result.ok,
        "entries": result.entries,
        "head": result.head,
        "broken_at": result.broken_at,
        "problem": result.problem,
        "legacy_entries": result.legacy_entries,
        "checkpoints": result.checkpoints,
    }


@router.get("/head")
def head(request: Request, caller: ReadAudit) -> dict[str, str]:
    """The newest entry's hash, to keep somewhere else for later verification."""
    with get_store(request).read_sessions() as session:
        return {"head": audit.head(session)}

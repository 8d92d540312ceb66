"""The audit log viewer (``/console/security/audit``): newest entries first, paged, filtered by
actor, kind of actor, action, customer and date range (``security.audit_query``), system
jobs' reveals summed per run, a CSV export of the filtered entries for auditors (itself
audited), a "Verify chain" button and the head hash to keep somewhere else.

Entries hold ids only; the page puts staff display names beside user ids (staff, not
customers) so that a reader can tell who acted. Verifying walks the whole chain, a read-only
GET, and reports the first broken entry exactly as ``clientvault audit verify`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.http.audit_filter import Filter, GroupedFilter, csv_export
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.http.params import AfterId, BeforeId
from clientvault.security import audit, audit_checkpoints, audit_query
from clientvault.security.accounts import display_names
from clientvault.security.audit_query import AuditFilter, entries_page, job_reveal_runs
from clientvault.security.models import AuditEntry
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/security", include_in_schema=False)
ReadAudit = Annotated[Caller, Depends(Authorize("audit:read"))]

AUDIT_PATH = f"{CONSOLE_PREFIX}/security/audit"
PAGE_SIZE = 50
_HEAD = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class EntryRow:
    """One entry as the table shows it."""

    entry: AuditEntry
    actor_name: str | None


@dataclass(frozen=True)
class AuditPage:
    """One page of entries, newest first, and the ids to page from."""

    rows: list[EntryRow]
    newer_than: int | None  # the "newer" link's ``after``, when newer entries exist
    older_than: int | None  # the "older" link's ``before``, when older entries exist


def read_page(
    session: Session, *, before: int | None, after: int | None, wanted: AuditFilter
) -> AuditPage:
    """The page of entries before (older than) or after (newer than) an id, newest first,
    staff display names beside user ids."""
    page = entries_page(session, wanted, limit=PAGE_SIZE, before=before, after=after)
    names = display_names(session, {e.actor_id for e in page.entries if e.actor_kind == "user"})
    rows = [EntryRow(entry, names.get(entry.actor_id)) for entry in page.entries]
    return AuditPage(rows=rows, newer_than=page.newer_than, older_than=page.older_than)


@router.get("/audit", response_class=HTMLResponse, name="console_audit")
def audit_log(
    request: Request,
    caller: ReadAudit,
    store: StoreDep,
    settings: SettingsDep,
    wanted: GroupedFilter,
    before: BeforeId = None,
    after: AfterId = None,
    verify: Annotated[bool, Query()] = False,
    expected_head: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The newest entries (or a page of older ones), and the chain's verification on request."""
    expected = (expected_head or "").strip().lower() or None
    head_error = None
    if expected is not None and not _HEAD.match(expected):
        head_error, verify = "a head hash is 64 hexadecimal characters", False
    problem = None
    with store.read_sessions() as session, session.begin():
        try:
            page = read_page(session, before=before, after=after, wanted=wanted)
            runs = job_reveal_runs(session, wanted) if wanted.group_jobs else []
        except InvalidInput as exc:
            page, runs, problem = AuditPage([], None, None), [], exc.message
        actions = audit_query.actions(session)
        head = audit.head(session)
        verification = (
            audit_checkpoints.verify(store, session, settings.audit, expected_head=expected)
            if verify
            else None
        )
    return render(
        request,
        "security/audit.html",
        {
            "title": "Audit log",
            "page": page,
            "actions": actions,
            "wanted": wanted,
            "filter_query": filter_query(wanted),
            "runs": runs,
            "problem": problem,
            "head": head,
            "verification": verification,
            "expected_head": expected or "",
            "head_error": head_error,
        },
    )


def filter_query(wanted: AuditFilter) -> str:
    """The filter as a query string, for the pager's, the runs' and the export's links."""
    each = {} if wanted.group_jobs else {"each": "true"}
    return urlencode({**wanted.details(), **each})


@router.get("/audit/export.csv", name="console_audit_export")
def export_audit(caller: ReadAudit, store: StoreDep, wanted: Filter) -> StreamingResponse:
    """The filtered entries as CSV for an auditor (every entry, jobs' reveals included);
    the export is itself recorded in the log first."""
    return csv_export(store, wanted, principal=caller.principal)

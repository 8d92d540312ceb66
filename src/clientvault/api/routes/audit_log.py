"""Reading and verifying the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, get_store
from clientvault.http.params import BeforeId
from clientvault.security import audit, audit_checkpoints
from clientvault.security.models import AuditEntry
from clientvault.security.schemas import AuditEntryRead

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
ReadAudit = Annotated[Caller, Depends(Authorize("audit:read"))]


@router.get("", response_model=list[AuditEntryRead])
def entries(
    request: Request,
    caller: ReadAudit,
    before: BeforeId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditEntryRead]:
    """The newest entries (before an id, optionally of one action)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    with get_store(request).read_sessions() as session:
        return [AuditEntryRead.model_validate(entry) for entry in session.scalars(query)]


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

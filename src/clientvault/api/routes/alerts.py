"""Access alerts raised from the audit log: list them, read one, acknowledge it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import get_store
from clientvault.http.params import BeforeId, RowId
from clientvault.security.alerts import inbox
from clientvault.security.alerts.schemas import AlertRead

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
# Acknowledging is part of reading alerts: whoever is shown them is the one to triage them.
ReadAlerts = Annotated[Caller, Depends(Authorize("alerts:read"))]


@router.get("", response_model=list[AlertRead])
def list_alerts(
    request: Request,
    caller: ReadAlerts,
    status: Literal["open", "acknowledged"] | None = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    before: BeforeId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertRead]:
    """The newest alerts first (before an id for the next page), optionally filtered."""
    with get_store(request).read_sessions() as session:
        found = inbox.list_alerts(session, status=status, kind=kind, before=before, limit=limit)
        return [AlertRead.model_validate(alert) for alert in found]


@router.get("/{alert_id}", response_model=AlertRead)
def get_alert(alert_id: RowId, request: Request, caller: ReadAlerts) -> AlertRead:
    """One alert with its evidence."""
    with get_store(request).read_sessions() as session:
        return AlertRead.model_validate(inbox.get_alert(session, alert_id))


@router.post("/{alert_id}/acknowledge", response_model=AlertRead)
def acknowledge(alert_id: RowId, request: Request, caller: ReadAlerts) -> AlertRead:
    """Mark an alert as looked at (the audit log records who and when)."""
    with get_store(request).sessions.begin() as session:
        return AlertRead.model_validate(
            inbox.acknowledge(session, alert_id=alert_id, by=caller.principal)
        )

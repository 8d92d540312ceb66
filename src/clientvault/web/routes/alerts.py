"""Access alerts (``/console/security/alerts``), for administrators and the DPO.

The page lists the alerts the audit-log consumer raised (``security.alerts``), open ones
first by default, each with its evidence: counts, times and audit entry ids to look up in the
audit log, never personal data. An alert is acknowledged with its own POST (CSRF-checked by
``Authorize`` like every console form), which the audit log records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import StoreDep
from clientvault.http.params import BeforeId, RowId
from clientvault.security.accounts import display_names
from clientvault.security.alerts import inbox
from clientvault.security.models import Alert
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/security", include_in_schema=False)
ReadAlerts = Annotated[Caller, Depends(Authorize("alerts:read"))]

ALERTS_PATH = f"{CONSOLE_PREFIX}/security/alerts"
PAGE_SIZE = 50
#: How many items of a list in the evidence the page shows (the API has them all).
SAMPLE_SHOWN = 10
StatusFilter = Literal["open", "acknowledged", "all"]
#: How each kind of alert is named on the page.
KIND_LABELS = {
    "bulk_read": "Many profiles read",
    "bulk_export": "Bulk export",
    "unusual_hours": "Access at unusual hours",
    "denials": "Many refusals",
    "new_network": "Sign-in from a new network",
    "mfa_replay": "One-time code replayed",
    "client_blocked": "Client address blocked",
    "dsr_due_soon": "Privacy request due soon",
    "dsr_overdue": "Privacy request overdue",
    "backup_failed": "Backup failed",
    "backup_overdue": "Backup overdue",
    "drill_failed": "Restore drill failed",
    "drill_overdue": "Restore drill overdue",
    "backup_target_down": "Backup target unreachable",
    "order_fraud": "High-risk order",
    "model_drift": "Prediction scores moved",
}
#: The badge style of each severity.
SEVERITY_BADGES = {"high": "badge-danger", "medium": "badge-warn", "low": "badge-info"}
#: Evidence keys, in the order and with the labels the page shows them.
EVIDENCE_LABELS = {
    "entries": "Audit entries",
    "peak_profiles_per_hour": "Most profiles in an hour",
    "threshold": "Alert threshold",
    "baseline_median_per_hour": "Usual busy hour",
    "peak_in_window": "Most in the window",
    "window_minutes": "Window (minutes)",
    "declared_rows": "Rows declared",
    "action": "Action",
    "local_hours": "Hours",
    "basis": "Compared with",
    "timezone": "Time zone",
    "known_networks": "Networks used before",
    "reason": "Reason",
    "failures": "Failures",
    "blocked_seconds": "Blocked for (seconds)",
    "first_entry_id": "First entry",
    "last_entry_id": "Last entry",
    "sample_entry_ids": "Entry ids (sample)",
    "request_id": "Request",
    "due_on": "Due",
}


@dataclass(frozen=True)
class AlertRow:
    """One alert as the page shows it: its kind's label, who, and its evidence in order."""

    alert: Alert
    label: str
    actor_name: str | None
    evidence: list[tuple[str, str]]


def evidence_lines(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """The evidence as (label, value) lines, known keys first in a fixed order."""
    lines = []
    for key, label in EVIDENCE_LABELS.items():
        if key in evidence:
            lines.append((label, _show(evidence[key])))
    lines += [(key, _show(value)) for key, value in evidence.items() if key not in EVIDENCE_LABELS]
    return lines


def _show(value: Any) -> str:
    if isinstance(value, list):
        shown = ", ".join(str(item) for item in value[:SAMPLE_SHOWN])
        return shown + (", …" if len(value) > SAMPLE_SHOWN else "")
    if isinstance(value, float):
        return f"{value:g}"
    if value == "own_history":
        return "the user's usual hours"
    if value == "working_hours":
        return "working hours"
    return str(value)


@router.get("/alerts", response_class=HTMLResponse, name="console_alerts")
def alerts_page(
    request: Request,
    caller: ReadAlerts,
    store: StoreDep,
    status: StatusFilter = "open",
    before: BeforeId = None,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The newest alerts of a status (open by default), with their evidence."""
    with store.read_sessions() as session, session.begin():
        found = inbox.list_alerts(
            session,
            status=None if status == "all" else status,
            before=before,
            limit=PAGE_SIZE + 1,
        )
        page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
        names = display_names(session, {a.actor_id for a in page if a.actor_kind == "user"})
        open_count = inbox.count_open(session)
        rows = [
            AlertRow(
                alert,
                KIND_LABELS.get(alert.kind, alert.kind),
                names.get(alert.actor_id),
                evidence_lines(alert.evidence),
            )
            for alert in page
        ]
    return render(
        request,
        "alerts.html",
        {
            "title": "Alerts",
            "rows": rows,
            "status": status,
            "open_count": open_count,
            "older_than": page[-1].id if more and page else None,
            "notice": "The alert was acknowledged." if done == "acknowledged" else None,
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
            "severity_badges": SEVERITY_BADGES,
        },
    )


@router.post("/alerts/{alert_id}/acknowledge", name="console_alert_acknowledge")
def acknowledge(alert_id: RowId, caller: ReadAlerts, store: StoreDep) -> RedirectResponse:
    """Acknowledge an alert, then back to the list."""
    with store.sessions.begin() as session:
        inbox.acknowledge(session, alert_id=alert_id, by=caller.principal)
    return RedirectResponse(f"{ALERTS_PATH}?done=acknowledged", status_code=303)

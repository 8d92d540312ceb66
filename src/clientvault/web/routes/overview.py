"""The Overview page (``/console``): what this installation holds, at a glance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from clientvault.customers.overview import count_records
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import StoreDep
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)


_BACKEND_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@router.get("", response_class=HTMLResponse, name="console_overview")
def overview(
    request: Request,
    caller: Annotated[Caller, Depends(Authorize("customers:read"))],
    store: StoreDep,
) -> HTMLResponse:
    """Render the Overview: record counts and where to go next (counts only, no PII)."""
    with store.read_sessions() as session:
        counts = count_records(session)
    dialect = store.engine.dialect.name
    return render(
        request,
        "overview.html",
        {
            "title": "Overview",
            "counts": counts,
            "backend_label": _BACKEND_LABELS.get(dialect, dialect),
        },
    )

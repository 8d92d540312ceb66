"""The Overview page (``/console``): what this installation holds, at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import ReadSessionDep
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.store.base import Base
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)


@dataclass(frozen=True)
class RecordCounts:
    """How many customer profiles, events and orders the database holds."""

    customers: int
    events: int
    orders: int

    @property
    def empty(self) -> bool:
        """Whether nothing has been collected yet (the page then explains how to start)."""
        return not (self.customers or self.events or self.orders)


def count_records(session: Session) -> RecordCounts:
    """Count the main tables: three indexed ``COUNT(*)`` queries, no personal data read."""

    def count(model: type[Base]) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return RecordCounts(customers=count(Customer), events=count(Event), orders=count(Order))


_BACKEND_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@router.get("", response_class=HTMLResponse, name="console_overview")
def overview(
    request: Request,
    caller: Annotated[Caller, Depends(Authorize("customers:read"))],
    session: ReadSessionDep,
) -> HTMLResponse:
    """Render the Overview: record counts and where to go next (counts only, no PII)."""
    counts = count_records(session)
    dialect = session.get_bind().dialect.name
    return render(
        request,
        "overview.html",
        {
            "title": "Overview",
            "counts": counts,
            "backend_label": _BACKEND_LABELS.get(dialect, dialect),
        },
    )

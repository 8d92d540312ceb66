"""The audit log's filter as query parameters, shared by the console's page and the API.

The console's filter form sends its empty fields, which mean "any": ids and dates are read
as text and parsed here, so an empty one is no filter rather than a validation error.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, Query
from fastapi.responses import StreamingResponse

from clientvault.errors import InvalidInput
from clientvault.security.audit_query import (
    AuditFilter,
    csv_chunks,
    record_export,
)
from clientvault.security.principal import Principal
from clientvault.store.context import Store


def audit_filter(
    actor: Annotated[str | None, Query(max_length=254)] = None,
    actor_kind: Annotated[Literal["user", "system", ""] | None, Query()] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    customer: Annotated[str | None, Query(max_length=36)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    grouped: Annotated[bool, Query()] = False,
) -> AuditFilter:
    """The filter from the query (empty values mean "any"; ``grouped``: jobs' reveals left
    out of the list, to be summed per run; off by default for the API)."""
    try:
        customer_id = uuid.UUID(customer) if customer else None
    except ValueError:
        raise InvalidInput("a customer id is a UUID", details={"field": "customer"}) from None
    return AuditFilter(
        actor=actor or None,
        actor_kind=actor_kind or None,
        action=action or None,
        customer_id=customer_id,
        since=_day(since, "since"),
        until=_day(until, "until"),
        group_jobs=grouped,
    )


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("a date is written 2025-01-31", details={"field": field}) from None


def grouped_audit_filter(
    filtered: Annotated[AuditFilter, Depends(audit_filter)],
    each: Annotated[bool, Query(description="List each of the jobs' reveals.")] = False,
) -> AuditFilter:
    """The console page's filter: jobs' reveals summed per run unless ``each`` is asked."""
    return replace(filtered, group_jobs=not each)


#: The dependency a route declares to take the filter.
Filter = Annotated[AuditFilter, Depends(audit_filter)]
#: The same, grouping jobs' reveals by default (the console's page).
GroupedFilter = Annotated[AuditFilter, Depends(grouped_audit_filter)]


def csv_export(store: Store, wanted: AuditFilter, *, principal: Principal) -> StreamingResponse:
    """The filtered entries as a CSV download (every entry, jobs' reveals included), the
    export recorded in the log first: the API's and the console's export alike."""
    with store.sessions.begin() as session:
        record_export(session, wanted, principal=principal)

    def chunks() -> Iterator[str]:
        with store.read_sessions() as session, session.begin():
            yield from csv_chunks(session, wanted)

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit-log.csv"',
            "Cache-Control": "no-store",
        },
    )

"""Appending to the event log from inside the platform (journeys' e-mail events, segment
changes, CSAT answers, content shown), under the lock that ingestion takes.

On PostgreSQL, event inserts are serialised by a transaction-level advisory lock so that ids
become visible in commit order: the log's consumers read "past their cursor" and would skip
an event committed late with a lower id. Every writer of the log takes it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.ingest.models import Event
from clientvault.store.base import utcnow

EVENT_LOG_LOCK = 7_242_001


def lock_event_log(session: Session) -> None:
    """Take the event log's lock for the rest of the caller's transaction (PostgreSQL; SQLite
    has one writer at a time anyway)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({EVENT_LOG_LOCK})")


def append_event(
    session: Session,
    *,
    name: str,
    message_id: str,
    source: str,
    properties: dict[str, Any],
    customer_id: uuid.UUID | None = None,
    anonymous_index: bytes | None = None,
    context: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> bool:
    """Append one track event in the caller's transaction; False when ``message_id`` is
    already on the log (a replayed step writes nothing twice). ``properties`` and ``context``
    hold no personal data."""
    lock_event_log(session)
    if session.scalar(select(Event.id).where(Event.message_id == message_id)) is not None:
        return False
    now = utcnow()
    session.add(
        Event(
            message_id=message_id,
            type="track",
            name=name,
            customer_id=customer_id,
            anonymous_index=anonymous_index,
            occurred_at=at or now,
            received_at=now,
            source=source,
            properties=properties,
            context=context or {},
        )
    )
    session.flush()
    return True

"""Events the journeys put on the log about a customer (``Email Sent``, ``Email Opened``…), so
analytics and other journeys read them like any tracked event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.ingest.models import Event
from clientvault.ingest.tracking import EVENT_LOG_LOCK
from clientvault.store.base import utcnow

#: The ``source`` of the events written here.
SOURCE = "clientvault-automation"


def record_event(
    session: Session,
    *,
    customer_id: uuid.UUID,
    name: str,
    message_id: str,
    properties: dict[str, Any],
    at: datetime | None = None,
) -> bool:
    """Append a track event about a known customer in the caller's transaction; False when
    ``message_id`` is already on the log (a replayed step writes nothing twice).

    ``properties`` must hold no personal data (journey, step, template names, a link's URL).
    The event log's lock is taken first on PostgreSQL as ingestion does: consumers skip to the
    log's end, so ids must become visible in commit order."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({EVENT_LOG_LOCK})")
    if session.scalar(select(Event.id).where(Event.message_id == message_id)) is not None:
        return False
    now = utcnow()
    session.add(
        Event(
            message_id=message_id,
            type="track",
            name=name,
            customer_id=customer_id,
            occurred_at=at or now,
            received_at=now,
            source=SOURCE,
            properties=properties,
            context={},
        )
    )
    session.flush()
    return True

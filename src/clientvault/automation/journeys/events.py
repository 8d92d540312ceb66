"""Events the journeys put on the log about a customer (``Email Sent``, ``Email Opened``…), so
analytics and other journeys read them like any tracked event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from clientvault.ingest.event_log import append_event

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

    ``properties`` must hold no personal data (journey, step, template names, a link's URL)."""
    return append_event(
        session,
        name=name,
        message_id=message_id,
        source=SOURCE,
        properties=properties,
        customer_id=customer_id,
        at=at,
    )

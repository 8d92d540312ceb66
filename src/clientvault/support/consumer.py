"""Tickets from helpdesk events: ``Support Ticket Opened`` / ``Closed`` and ``CSAT Survey
Answered`` sent to the tracking API (Segment's spec has no support events; these are the
names helpdesk integrations commonly send, and the demo emits) become tickets, so a
helpdesk that already sends Segment events keeps working.

Idempotent: a ticket is keyed by the helpdesk's ``ticket_id`` (``Ticket.external_id``), so a
replayed batch changes nothing. Events without a known customer or ticket id are skipped.
Tickets still open wait in the queue, which the ``support.assign`` job hands out every minute.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.identity.models import Customer
from clientvault.ingest.consumers import Consumer
from clientvault.ingest.models import Event
from clientvault.store.context import Store
from clientvault.support.models import PRIORITIES, Ticket
from clientvault.support.tickets import CSAT_EVENT

logger = logging.getLogger(__name__)

OPENED = "Support Ticket Opened"
CLOSED = "Support Ticket Closed"
CSAT = CSAT_EVENT


def _text(properties: dict[str, Any], name: str, limit: int) -> str | None:
    value = properties.get(name)
    return str(value)[:limit] if isinstance(value, str | int) and str(value).strip() else None


def handle(session: Session, _store: Store, events: Sequence[Event]) -> None:
    """Apply a batch of support events to the tickets."""
    ids = {_text(e.properties, "ticket_id", 128) for e in events} - {None}
    known = {
        t.external_id: t
        for t in session.scalars(select(Ticket).where(Ticket.external_id.in_(list(ids))))
    }
    for event in events:
        external_id = _text(event.properties, "ticket_id", 128)
        if external_id is None:
            continue
        ticket = known.get(external_id)
        if event.name == OPENED and ticket is None and event.customer_id is not None:
            ticket = _opened(session, event, external_id)
            if ticket is not None:
                known[external_id] = ticket
        elif ticket is not None and event.name == CLOSED and ticket.status != "closed":
            ticket.status = "closed"
            ticket.resolved_at = ticket.resolved_at or event.occurred_at
            resolution = _text(event.properties, "resolution", 200)
            if resolution:
                ticket.details = {**(ticket.details or {}), "resolution": resolution}
        elif ticket is not None and event.name == CSAT:
            score = event.properties.get("score")
            if isinstance(score, int) and 1 <= score <= 5:
                ticket.csat_score = score
    session.flush()


def _opened(session: Session, event: Event, external_id: str) -> Ticket | None:
    customer = session.get(Customer, event.customer_id)
    if customer is None:
        return None
    priority = _text(event.properties, "priority", 16)
    ticket = Ticket(
        external_id=external_id,
        customer_id=customer.merged_into_id or customer.id,
        category=_text(event.properties, "category", 64),
        priority=priority if priority in PRIORITIES else "normal",
        channel=_text(event.properties, "channel", 32) or "helpdesk",
        language=customer.language,
        created_at=event.occurred_at,
    )
    session.add(ticket)
    return ticket


CONSUMER = Consumer(name="support", handle=handle, event_names=frozenset({OPENED, CLOSED, CSAT}))

"""Incremental identity resolution as a consumer of the event log.

Every identify call may have created or changed a profile; this consumer matches those
profiles against the existing ones (``identity.incremental``: blocking keys, the trained
model's weights, the same merge / review thresholds as the batch job). It runs beside
ingestion rather than inside it: a tracking call is acknowledged as soon as its events are
stored, and scoring, which opens a few profiles through the audited decrypt path, never
slows it down.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from clientvault.identity.incremental import match_incremental
from clientvault.ingest.consumers import Consumer
from clientvault.ingest.models import Event
from clientvault.security.audit import appending_together
from clientvault.store.context import Store


def handle(session: Session, store: Store, events: Sequence[Event]) -> None:
    """Match each profile named by the batch's identify calls, once per batch.

    Idempotent: a replayed batch finds the same candidates already decided or queued. The
    batch's audit entries (reveals, merges) are appended together, once, when it is done.
    """
    customers: dict[uuid.UUID, None] = {}
    for event in events:
        if event.customer_id is not None:
            customers.setdefault(event.customer_id, None)
    with appending_together(session):
        for customer_id in customers:
            match_incremental(session, store, customer_id=customer_id)


CONSUMER = Consumer(name="identity-matching", handle=handle, event_types=frozenset({"identify"}))

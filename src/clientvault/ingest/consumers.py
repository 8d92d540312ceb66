"""Consumers of the event log: each reads events past its own stored cursor.

The cursor moves in the same transaction as the consumer's effects, so a crash replays the
last batch at most (at-least-once delivery); handlers are written to be idempotent so a
replay changes nothing. On PostgreSQL the cursor row is locked with ``SKIP LOCKED``, so
several workers can run side by side without handling a batch twice at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from clientvault.ingest.models import ConsumerCursor, Event
from clientvault.store.context import Store

EventHandler = Callable[[Session, Sequence[Event]], None]


@dataclass(frozen=True)
class Consumer:
    """A named reader of the event log and the idempotent handler it applies to each batch."""

    name: str
    handle: EventHandler
    event_names: frozenset[str] | None = None  # None: every event


def process_batch(store: Store, consumer: Consumer, *, batch_size: int = 500) -> int:
    """Handle the next batch of events past the consumer's cursor; returns how many were read.

    Returns 0 when there is nothing new, or when another worker holds this consumer's cursor.
    """
    with store.sessions.begin() as session:
        cursor = _locked_cursor(session, consumer.name)
        if cursor is None:
            return 0
        events = list(
            session.scalars(
                select(Event).where(Event.id > cursor.position).order_by(Event.id).limit(batch_size)
            )
        )
        if not events:
            return 0
        wanted = [
            event
            for event in events
            if consumer.event_names is None or event.name in consumer.event_names
        ]
        if wanted:
            consumer.handle(session, wanted)
        cursor.position = events[-1].id
        return len(events)


def drain(store: Store, consumer: Consumer, *, batch_size: int = 500) -> int:
    """Process batches until the consumer has caught up with the log; returns events read."""
    total = 0
    while count := process_batch(store, consumer, batch_size=batch_size):
        total += count
    return total


def position(store: Store, name: str) -> int:
    """Where a consumer's cursor stands (0 if it never ran)."""
    with store.sessions() as session:
        cursor = session.get(ConsumerCursor, name)
        return cursor.position if cursor else 0


def _locked_cursor(session: Session, name: str) -> ConsumerCursor | None:
    dialect = session.get_bind().dialect.name
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        dialect_insert(ConsumerCursor)
        .values(name=name, position=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    query = select(ConsumerCursor).where(ConsumerCursor.name == name)
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)

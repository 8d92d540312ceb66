"""Consumers of the event log: each reads events past its own stored cursor.

The cursor moves in the same transaction as the consumer's effects, so a crash replays the
last batch at most (at-least-once delivery); handlers are written to be idempotent so a
replay changes nothing. On PostgreSQL the cursor row is locked with ``SKIP LOCKED``, so
several workers can run side by side without handling a batch twice at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.ingest.models import ConsumerCursor, Event
from clientvault.store.context import Store
from clientvault.store.cursors import locked_cursor

#: Applies a batch of events in the consumer's transaction (the store for keys and indexes).
EventHandler = Callable[[Session, Store, Sequence[Event]], None]


@dataclass(frozen=True)
class Consumer:
    """A named reader of the event log and the idempotent handler it applies to each batch."""

    name: str
    handle: EventHandler
    event_names: frozenset[str] | None = None  # None: every event
    event_types: frozenset[str] | None = None  # identify, track…; None: every type
    #: Consumers whose effects this one reads (segment membership reads computed traits):
    #: it never handles an event before they have. Running them first in each pass is not
    #: enough: an event committed between their pass and this one's would be seen by this
    #: one only, and read effects that were not there yet.
    after: tuple[str, ...] = ()


def process_batch(store: Store, consumer: Consumer, *, batch_size: int = 500) -> int:
    """Handle the next batch of events past the consumer's cursor; returns how far the cursor
    moved (0 when there is nothing new, or when another worker holds this consumer's cursor).

    Only the events the consumer subscribes to (by name and type) are loaded, filtered in SQL.
    """
    with store.sessions.begin() as session:
        cursor = locked_cursor(session, ConsumerCursor, consumer.name)
        if cursor is None:
            return 0
        query = select(Event).where(Event.id > cursor.position).order_by(Event.id).limit(batch_size)
        ahead = _bound(session, consumer.after)
        if ahead is not None:
            query = query.where(Event.id <= ahead)
        if consumer.event_names is not None:
            query = query.where(Event.name.in_(consumer.event_names))
        if consumer.event_types is not None:
            query = query.where(Event.type.in_(consumer.event_types))
        events = list(session.scalars(query))
        if len(events) == batch_size:
            end = events[-1].id
        else:
            # Fewer than a batch of interesting events: the cursor may skip to the log's end
            # (on PostgreSQL ids become visible in commit order, see ingest.tracking).
            end = session.scalar(select(func.max(Event.id))) or cursor.position
            if ahead is not None:
                end = max(min(end, ahead), cursor.position)
        if events:
            consumer.handle(session, store, events)
        read = end - cursor.position
        cursor.position = end
        return max(read, 0)


def _bound(session: Session, names: tuple[str, ...]) -> int | None:
    """How far the named consumers have all handled the log (None: no such constraint)."""
    if not names:
        return None
    reached = dict(
        session.execute(
            select(ConsumerCursor.name, ConsumerCursor.position).where(
                ConsumerCursor.name.in_(names)
            )
        ).all()
    )
    return min(reached.get(name, 0) for name in names)


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

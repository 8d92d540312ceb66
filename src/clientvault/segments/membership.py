"""Keeping segment membership current: the refresh job, the event consumer, the history and
the ``Segment Entered`` / ``Segment Exited`` events.

``refresh_segment`` evaluates a segment's rule (for everyone, or for some customers only),
compares with ``segment_members`` and applies the difference: members added or removed, one
``segment_memberships`` row and one event on the log per change, the size and today's size
kept. Evaluating twice gives the same members, so a replayed batch or a second run changes
nothing (idempotent, as consumers must be).

Events are appended to the log as the ingest path appends them: inside the transaction, after
taking the event log's lock on PostgreSQL (so ids become visible in commit order and no
consumer skips one), with a message id made from the history row, unique, so the same change is
never published twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from clientvault.identity.models import Customer
from clientvault.ingest.consumers import Consumer
from clientvault.ingest.event_log import lock_event_log
from clientvault.ingest.models import Event
from clientvault.segments import rules as r
from clientvault.segments.compiler import live_customers, member_ids, members_query
from clientvault.segments.models import Segment, SegmentMember, SegmentMembership, SegmentSize
from clientvault.segments.service import context, static_segment
from clientvault.settings import Settings
from clientvault.store.base import Base, table_of, utcnow
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

ENTERED = "Segment Entered"
EXITED = "Segment Exited"
#: The source of the events segments publish (the consumer skips them).
SOURCE = "clientvault.segments"
_CHUNK = 500


@dataclass(frozen=True)
class Changes:
    """What one evaluation changed."""

    entered: int
    exited: int
    size: int


def _chunks(ids: Sequence[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def refresh_segment(
    session: Session,
    segment: Segment,
    *,
    now: datetime | None = None,
    customers: Sequence[uuid.UUID] | None = None,
) -> Changes:
    """Re-evaluate a segment (for ``customers`` only, if given) and apply the changes."""
    at = now or utcnow()
    node = r.parse_rules(segment.rules)
    ctx = context(session, zone=segment.timezone, now=at, slug=segment.slug)
    query = members_query(node, ctx)
    current = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
    if customers is not None:
        wanted = list(dict.fromkeys(customers))
        found: set[uuid.UUID] = set()
        had: set[uuid.UUID] = set()
        for chunk in _chunks(wanted):
            found.update(member_ids(session, query.where(query.selected_columns[0].in_(chunk))))
            had.update(session.scalars(current.where(SegmentMember.customer_id.in_(chunk))))
    else:
        found = set(member_ids(session, query))
        had = set(session.scalars(current))
    entering = sorted(found - had)
    leaving = sorted(had - found)
    _apply(session, segment, entering, leaving, at)
    size = _count_members(session, segment)
    segment.size = size
    if customers is None:
        segment.evaluated_at = at
    _keep_size(session, segment, size, at)
    return Changes(len(entering), len(leaving), size)


def _apply(
    session: Session,
    segment: Segment,
    entering: list[uuid.UUID],
    leaving: list[uuid.UUID],
    at: datetime,
) -> None:
    """Members in and out, each change in the history and on the event log."""
    for chunk in _chunks(leaving):
        session.execute(
            delete(SegmentMember).where(
                SegmentMember.segment_id == segment.id, SegmentMember.customer_id.in_(chunk)
            )
        )
    if entering:
        session.execute(
            insert(SegmentMember),
            [{"segment_id": segment.id, "customer_id": c, "entered_at": at} for c in entering],
        )
    _record(session, segment, entering, "entered", at)
    _record(session, segment, leaving, "exited", at)


def _count_members(session: Session, segment: Segment) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SegmentMember)
            .where(SegmentMember.segment_id == segment.id)
        )
        or 0
    )


def _record(
    session: Session, segment: Segment, ids: list[uuid.UUID], change: str, at: datetime
) -> None:
    if not ids:
        return
    history = table_of(SegmentMembership)
    rows = [{"segment_id": segment.id, "customer_id": c, "change": change, "at": at} for c in ids]
    numbers: list[int] = []
    for start in range(0, len(rows), _CHUNK):
        numbers.extend(
            session.scalars(insert(history).returning(history.c.id), rows[start : start + _CHUNK])
        )
    _publish(session, segment, list(zip(numbers, ids, strict=True)), change, at)


def _publish(
    session: Session,
    segment: Segment,
    changes: list[tuple[int, uuid.UUID]],
    change: str,
    at: datetime,
) -> None:
    lock_event_log(session)
    name = ENTERED if change == "entered" else EXITED
    properties = {
        "segment_id": str(segment.id),
        "segment": segment.slug,
        "segment_name": segment.name,
    }
    rows = [
        {
            "message_id": f"segment-{change}-{number}",
            "type": "track",
            "name": name,
            "customer_id": customer_id,
            "occurred_at": at,
            "received_at": at,
            "source": SOURCE,
            "properties": properties,
            "context": {},
        }
        for number, customer_id in changes
    ]
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(table_of(Event)), rows[start : start + _CHUNK])


def _keep_size(session: Session, segment: Segment, size: int, at: datetime) -> None:
    day = at.astimezone(ZoneInfo(segment.timezone)).date()
    row = session.get(SegmentSize, (segment.id, day))
    if row is None:
        session.add(SegmentSize(segment_id=segment.id, day=day, size=size))
    else:
        row.size = size


def change_static_members(
    session: Session,
    slug: str,
    customers: Sequence[uuid.UUID],
    *,
    add: bool,
    now: datetime | None = None,
) -> Changes:
    """Add ``customers`` to the static segment ``slug`` (live profiles only: neither merged
    nor erased), or remove them from it, recorded as a refresh records its changes (history
    rows, ``Segment Entered`` / ``Exited`` on the log, the size). Who is already in (or out)
    is left as they are, so doing it twice changes nothing. ``NotFound`` / ``InvalidInput``
    when there is no such segment or it is dynamic (``service.static_segment``)."""
    at = now or utcnow()
    segment = static_segment(session, slug)
    # One change at a time per segment (PostgreSQL): the members read, the size counted. The
    # event log's lock first, as publishing the change takes it: a transaction that already
    # put events on the log (a journey's other steps) and one holding the segment's row
    # cannot then wait for each other.
    lock_event_log(session)
    session.execute(select(Segment.id).where(Segment.id == segment.id).with_for_update())
    wanted = list(dict.fromkeys(customers))
    had: set[uuid.UUID] = set()
    live: set[uuid.UUID] = set()
    for chunk in _chunks(wanted):
        had.update(
            session.scalars(
                select(SegmentMember.customer_id).where(
                    SegmentMember.segment_id == segment.id, SegmentMember.customer_id.in_(chunk)
                )
            )
        )
        if add:
            live.update(
                session.scalars(select(Customer.id).where(Customer.id.in_(chunk), live_customers()))
            )
    entering = sorted(live - had) if add else []
    leaving = [] if add else sorted(had)
    _apply(session, segment, entering, leaving, at)
    if entering or leaving:
        segment.size = _count_members(session, segment)
        _keep_size(session, segment, segment.size, at)
    return Changes(len(entering), len(leaving), segment.size)


# --- the refresh job ----------------------------------------------------------------------


_Row = TypeVar("_Row", bound=Base)
_Done = TypeVar("_Done")


def each_in_own_transaction(
    store: Store,
    model: type[_Row],
    key: InstrumentedAttribute[str],
    apply: Callable[[Session, _Row], _Done],
    *where: ColumnElement[bool],
) -> dict[str, _Done]:
    """``apply`` to each row of ``model`` (chosen by ``where``), by ``key``, each in its own
    transaction where the row is read again (one deleted meanwhile is skipped)."""
    with store.read_sessions() as session:
        keys = list(session.scalars(select(key).where(*where).order_by(key)))
    done: dict[str, _Done] = {}
    for value in keys:
        with store.sessions.begin() as session:
            row = session.scalar(select(model).where(key == value))
            if row is not None:
                done[value] = apply(session, row)
    return done


def refresh_all(store: Store, *, now: datetime | None = None) -> dict[str, Changes]:
    """Re-evaluate every dynamic segment, each in its own transaction."""
    return each_in_own_transaction(
        store,
        Segment,
        Segment.slug,
        lambda session, segment: refresh_segment(session, segment, now=now),
        Segment.kind == "dynamic",
    )


def _refresh_job(store: Store, settings: Settings) -> None:
    refresh_all(store)


REFRESH = ScheduledJob(
    name="segments.refresh",
    description="Re-evaluate dynamic segments: memberships, history, Segment Entered/Exited.",
    schedule=lambda settings: f"every {settings.segments.refresh_minutes} minutes",
    run=_refresh_job,
    lease=timedelta(minutes=30),
)


# --- the event consumer -------------------------------------------------------------------

#: Condition types whose truth an event (or the order it becomes) can change.
_EVENT_DRIVEN = (
    r.EventCondition,
    r.OccurrenceCondition,
    r.SequenceCondition,
    r.RegularlyCondition,
    r.StoppedCondition,
    r.RestartedCondition,
    r.ComputedTraitCondition,
    r.ProfileDateCondition,
    r.OrdersCondition,
    r.CategoryCondition,
    r.SegmentCondition,
)


def event_driven(node: r.Node) -> bool:
    """Whether a rule has a condition an event can change (those segments the consumer
    re-evaluates for the customers of each batch)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, _EVENT_DRIVEN):
            return True
        stack.extend(r.children(current))
    return False


def handle(session: Session, store: Store, events: Sequence[Event]) -> None:
    """Re-evaluate the event-driven dynamic segments for the customers of these events."""
    customers = list(
        dict.fromkeys(e.customer_id for e in events if e.customer_id and e.source != SOURCE)
    )
    if not customers:
        return
    for segment in session.scalars(
        select(Segment).where(Segment.kind == "dynamic").order_by(Segment.slug)
    ):
        if event_driven(r.parse_rules(segment.rules)):
            refresh_segment(session, segment, customers=customers)


#: The computed traits' consumer (``segments.traits``, which imports this module).
TRAITS_CONSUMER_NAME = "segments.traits"
#: After the computed traits' consumer: segments testing a trait see it updated for the
#: events they are re-evaluated for.
CONSUMER = Consumer(name="segments.membership", handle=handle, after=(TRAITS_CONSUMER_NAME,))

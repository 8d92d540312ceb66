"""The groups consumer: ``group`` calls become groups (accounts, companies) and memberships.

A ``group`` event keeps its ``groupId`` and its group traits (scrubbed at ingestion like
every property) in its properties; this consumer folds them into ``groups`` — one row per
group id, global across sources, with the traits of its latest call — and ``group_members``
— which customers the calls named, first and last seen. Groups stand apart from the identity
graph: a group is never merged or stitched, and a customer's groups are read over every
profile of the person. Idempotent: a replayed event changes neither traits nor times. A
call whose visitor was not known yet as a customer updates the group but adds no member.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from clientvault.ingest.consumers import Consumer
from clientvault.ingest.models import Event, Group, GroupMember
from clientvault.store.context import Store

logger = logging.getLogger(__name__)

_CHUNK = 900  # values per IN (...) list, under SQLite's bound-parameter limit


class GroupRead(BaseModel):
    """A group a customer belongs to, with its traits (no personal data: scrubbed)."""

    model_config = ConfigDict(from_attributes=True)

    group_id: str
    traits: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime


def group_event_properties(group_id: str, traits: dict[str, Any]) -> dict[str, Any]:
    """What a ``group`` event keeps in its properties (before scrubbing): what this consumer
    reads back."""
    return {"groupId": group_id, "traits": traits}


def handle(session: Session, _store: Store, events: Sequence[Event]) -> None:
    """Apply a batch of ``group`` events to the groups and their members."""
    calls = [(event, key) for event in events if (key := _group_key(event)) is not None]
    groups = _known_groups(session, sorted({key for _, key in calls}))
    for event, key in calls:
        traits = event.properties.get("traits")
        _apply(session, groups, key, traits if isinstance(traits, dict) else {}, event)
    session.flush()  # new groups get their ids
    seen: dict[tuple[int, uuid.UUID], tuple[datetime, datetime]] = {}
    for event, key in calls:
        if event.customer_id is None:
            continue
        pair = (groups[key].id, event.customer_id)
        first, last = seen.get(pair, (event.occurred_at, event.occurred_at))
        seen[pair] = (min(first, event.occurred_at), max(last, event.occurred_at))
    members = _known_members(session, list(seen))
    for (group_id, customer_id), (first, last) in seen.items():
        member = members.get((group_id, customer_id))
        if member is None:
            session.add(
                GroupMember(
                    group_id=group_id,
                    customer_id=customer_id,
                    first_seen_at=first,
                    last_seen_at=last,
                )
            )
        else:
            member.first_seen_at = min(member.first_seen_at, first)
            member.last_seen_at = max(member.last_seen_at, last)


def _group_key(event: Event) -> str | None:
    key = event.properties.get("groupId")
    if isinstance(key, str) and key:
        return key
    logger.warning("groups: skipped event %s: no groupId", event.id)
    return None


def _apply(
    session: Session, groups: dict[str, Group], key: str, traits: dict[str, Any], event: Event
) -> None:
    """Fold one call into its group: a newer call's traits win, an older one's only fill
    traits the group lacks."""
    moment = event.occurred_at
    group = groups.get(key)
    if group is None:
        group = Group(
            group_key=key,
            traits=dict(traits),
            traits_at=moment,
            first_seen_at=moment,
            last_seen_at=moment,
        )
        session.add(group)
        groups[key] = group
        return
    if moment >= group.traits_at:
        group.traits, group.traits_at = {**group.traits, **traits}, moment
    else:
        group.traits = {**traits, **group.traits}
    group.first_seen_at = min(group.first_seen_at, moment)
    group.last_seen_at = max(group.last_seen_at, moment)


def _known_groups(session: Session, keys: list[str]) -> dict[str, Group]:
    found: dict[str, Group] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        found.update(
            (group.group_key, group)
            for group in session.scalars(select(Group).where(Group.group_key.in_(chunk)))
        )
    return found


def _known_members(
    session: Session, pairs: list[tuple[int, uuid.UUID]]
) -> dict[tuple[int, uuid.UUID], GroupMember]:
    found: dict[tuple[int, uuid.UUID], GroupMember] = {}
    for start in range(0, len(pairs), _CHUNK // 2):
        chunk = pairs[start : start + _CHUNK // 2]
        query = select(GroupMember).where(
            tuple_(GroupMember.group_id, GroupMember.customer_id).in_(chunk)
        )
        found.update(((m.group_id, m.customer_id), m) for m in session.scalars(query))
    return found


def groups_of(session: Session, customer_ids: Sequence[uuid.UUID]) -> list[GroupRead]:
    """The groups any of these profiles (one person's) belongs to, most recently seen first;
    membership times over all the profiles."""
    rows = session.execute(
        select(Group.group_key, Group.traits, GroupMember.first_seen_at, GroupMember.last_seen_at)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.customer_id.in_(list(customer_ids)))
    )
    merged: dict[str, GroupRead] = {}
    for key, traits, first, last in rows:
        known = merged.get(key)
        merged[key] = GroupRead(
            group_id=key,
            traits=traits,
            first_seen_at=min(first, known.first_seen_at) if known else first,
            last_seen_at=max(last, known.last_seen_at) if known else last,
        )
    return sorted(merged.values(), key=lambda g: (g.last_seen_at, g.group_id), reverse=True)


CONSUMER = Consumer(name="groups", handle=handle, event_types=frozenset({"group"}))

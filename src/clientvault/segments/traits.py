"""Computed traits kept live per customer (as Segment Engage has them): ``count``, ``sum``,
``average``, ``min``, ``max``, ``most_frequent``, ``first``, ``last`` and ``unique`` of an
event's property over the last N days, defined by name (``favourite_category_90d``).

A customer's value is always recomputed from the event log (never incremented), so it is a
function of the log and the time: the traits consumer recomputes the customers of each batch
of events (the definitions naming those events), a replayed batch changes nothing, and the
scheduled recompute lets windows expire. A row changes (and its ``updated_at``) only when its
value does. Values are stored as ``{"value": ...}`` in ``customer_traits`` and tested in
rules by ``computed_trait`` conditions (``segments.compiler``).

Which values count: ``sum``/``average``/``min``/``max`` read numbers only; ``most_frequent``
and ``unique`` strings only (ties: the more recent, then alphabetical order; at most
``MAX_UNIQUE`` values, sorted); ``first``/``last`` the earliest/latest string or number (ties:
the event logged first/last). A customer with no such event has no value, which a ``count``
or ``sum`` reads as 0.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Select, case, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from clientvault.errors import Conflict, NotFound
from clientvault.ingest.consumers import Consumer
from clientvault.ingest.models import Event
from clientvault.security.principal import Principal
from clientvault.segments import rules as r
from clientvault.segments.compiler import (
    Context,
    _event_terms,
    _json_is,
    _json_number,
    _json_text,
)
from clientvault.segments.membership import TRAITS_CONSUMER_NAME, each_in_own_transaction
from clientvault.segments.models import ComputedTrait, CustomerTrait, Segment
from clientvault.settings import Settings
from clientvault.store.base import table_of, utcnow
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

Aggregate = Literal[
    "count", "sum", "average", "min", "max", "most_frequent", "first", "last", "unique"
]
#: How many distinct values a ``unique`` trait keeps (the first, sorted).
MAX_UNIQUE = 100
_CHUNK = 500


class TraitIn(BaseModel):
    """A computed trait as written (API body, CLI file)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r.NAME_PATTERN)
    description: str = Field(default="", max_length=2000)
    event: r.EventSpec
    aggregate: Aggregate
    property: str | None = Field(default=None, pattern=r.NAME_PATTERN)
    window_days: int | None = Field(default=None, ge=1, le=36_600)

    @model_validator(mode="after")
    def _property_fits(self) -> TraitIn:
        if self.aggregate == "count" and self.property is not None:
            raise ValueError("'count' counts events: give no property")
        if self.aggregate != "count" and self.property is None:
            raise ValueError(f"{self.aggregate!r} needs the event property it reads")
        return self


def read_trait(document: object) -> TraitIn:
    """A trait definition from a parsed JSON/YAML document, errors naming their path."""
    return r.read_object(
        TraitIn,
        document,
        root="trait",
        code="invalid_trait",
        shape="a computed trait is an object with name, event and aggregate",
    )


# --- computing values ---------------------------------------------------------------------


def _spec(trait: ComputedTrait) -> r.EventSpec:
    return r.EventSpec.model_validate({"name": trait.event, "where": trait.where})


def _rows(
    trait: ComputedTrait, ctx: Context, customers: Sequence[uuid.UUID] | None
) -> tuple[Any, list[Any]]:
    """The event alias and the terms choosing the trait's events (of ``customers``)."""
    ev = aliased(Event)
    terms = [ev.customer_id.is_not(None), *_event_terms(ev, _spec(trait), ctx)]
    if trait.window_days is not None:
        terms.append(ev.occurred_at >= ctx.now - timedelta(days=trait.window_days))
    if customers is not None:
        terms.append(ev.customer_id.in_(customers))
    return ev, terms


def _query(
    trait: ComputedTrait, ctx: Context, customers: Sequence[uuid.UUID] | None
) -> Select[Any]:
    ev, terms = _rows(trait, ctx, customers)
    key = trait.property or ""
    props = ev.properties
    if trait.aggregate == "count":
        return select(ev.customer_id, func.count()).where(*terms).group_by(ev.customer_id)
    if trait.aggregate in ("sum", "average", "min", "max"):
        number = _json_number(props, key, ctx.dialect)
        functions: dict[str, Any] = {
            "sum": func.sum,
            "average": func.avg,
            "min": func.min,
            "max": func.max,
        }
        return (
            select(ev.customer_id, functions[trait.aggregate](number))
            .where(*terms, _json_is(props, key, "number", ctx.dialect))
            .group_by(ev.customer_id)
        )
    text = _json_text(props, key)
    is_text = _json_is(props, key, "string", ctx.dialect)
    if trait.aggregate == "unique":
        return select(ev.customer_id, text).where(*terms, is_text).distinct()
    if trait.aggregate == "most_frequent":
        return (
            select(ev.customer_id, text, func.count(), func.max(ev.occurred_at))
            .where(*terms, is_text)
            .group_by(ev.customer_id, text)
        )
    # first / last: the value of the earliest / latest event holding a string or number.
    newest = trait.aggregate == "last"
    order = (ev.occurred_at.desc(), ev.id.desc()) if newest else (ev.occurred_at, ev.id)
    ranked = (
        select(
            ev.customer_id.label("customer_id"),
            case((is_text, text), else_=None).label("text"),
            _json_number(props, key, ctx.dialect).label("number"),
            func.row_number().over(partition_by=ev.customer_id, order_by=order).label("rank"),
        )
        .where(*terms, is_text | _json_is(props, key, "number", ctx.dialect))
        .subquery("ranked")
    )
    return select(ranked.c.customer_id, ranked.c.text, ranked.c.number).where(ranked.c.rank == 1)


def _number(value: Any) -> float | int:
    return int(value) if isinstance(value, int) else float(value)


def compute_values(
    session: Session,
    trait: ComputedTrait,
    *,
    now: datetime,
    customers: Sequence[uuid.UUID] | None = None,
) -> dict[uuid.UUID, Any]:
    """Each customer's value of a trait at ``now`` (of ``customers`` only, if given); a
    customer without a value is absent."""
    ctx = Context(dialect=session.get_bind().dialect.name, now=now)
    rows = session.execute(_query(trait, ctx, customers)).all()
    if trait.aggregate in ("count", "sum", "average", "min", "max"):
        return {row[0]: _number(row[1]) for row in rows if row[1] is not None}
    if trait.aggregate == "unique":
        values: dict[uuid.UUID, list[str]] = {}
        for customer_id, text in rows:
            values.setdefault(customer_id, []).append(text)
        return {c: sorted(v)[:MAX_UNIQUE] for c, v in values.items()}
    if trait.aggregate == "most_frequent":
        best: dict[uuid.UUID, tuple[int, datetime, str]] = {}
        for customer_id, text, count, last in rows:
            held = best.get(customer_id)
            if (
                held is None
                or (count, last) > held[:2]
                or ((count, last) == held[:2] and text < held[2])
            ):
                best[customer_id] = (int(count), last, text)
        return {c: held[2] for c, held in best.items()}
    return {c: (text if number is None else float(number)) for c, text, number in rows}


def _chunks(ids: Sequence[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def recompute(
    session: Session,
    trait: ComputedTrait,
    *,
    now: datetime | None = None,
    customers: Sequence[uuid.UUID] | None = None,
) -> int:
    """Recompute a trait (for ``customers`` only, if given) and store the values that
    changed; returns how many rows changed (0 on a replay)."""
    at = now or utcnow()
    stored = table_of(CustomerTrait)
    wanted = None if customers is None else list(dict.fromkeys(customers))
    new: dict[uuid.UUID, Any] = {}
    old: dict[uuid.UUID, Any] = {}
    held = select(stored.c.customer_id, stored.c.value).where(stored.c.trait_id == trait.id)
    for chunk in [None] if wanted is None else _chunks(wanted):
        new.update(compute_values(session, trait, now=at, customers=chunk))
        query = held if chunk is None else held.where(stored.c.customer_id.in_(chunk))
        old.update({c: v.get("value") for c, v in session.execute(query)})
    gone = sorted(set(old) - set(new))
    added = [c for c in new if c not in old]
    changed = [c for c in new if c in old and old[c] != new[c]]
    for chunk in _chunks(gone):
        session.execute(
            delete(stored).where(stored.c.trait_id == trait.id, stored.c.customer_id.in_(chunk))
        )
    if added:
        rows = [
            {"trait_id": trait.id, "customer_id": c, "value": {"value": new[c]}, "updated_at": at}
            for c in added
        ]
        for start in range(0, len(rows), _CHUNK):
            session.execute(insert(stored), rows[start : start + _CHUNK])
    for customer_id in changed:
        session.execute(
            update(stored)
            .where(stored.c.trait_id == trait.id, stored.c.customer_id == customer_id)
            .values(value={"value": new[customer_id]}, updated_at=at)
        )
    if customers is None:
        trait.computed_at = at
    return len(gone) + len(added) + len(changed)


# --- definitions --------------------------------------------------------------------------


def list_traits(session: Session) -> list[ComputedTrait]:
    """Every computed trait, by name."""
    return list(session.scalars(select(ComputedTrait).order_by(ComputedTrait.name)))


def get_trait(session: Session, name: str) -> ComputedTrait:
    """A computed trait by name; ``NotFound`` otherwise."""
    found = session.scalar(select(ComputedTrait).where(ComputedTrait.name == name))
    if found is None:
        raise NotFound(f"no computed trait {name!r}", code="trait_not_found")
    return found


def define_trait(
    session: Session, body: TraitIn, *, principal: Principal, now: datetime | None = None
) -> ComputedTrait:
    """Define a computed trait and compute it for every customer at once."""
    if session.scalar(select(ComputedTrait.id).where(ComputedTrait.name == body.name)):
        raise Conflict(f"computed trait {body.name!r} exists already", code="trait_exists")
    trait = ComputedTrait(
        name=body.name,
        description=body.description,
        event=body.event.name,
        where=[f.model_dump(mode="json") for f in body.event.where],
        aggregate=body.aggregate,
        property=body.property,
        window_days=body.window_days,
        created_by=principal.id,
    )
    session.add(trait)
    session.flush()
    recompute(session, trait, now=now)
    return trait


def _uses(node: r.Node, name: str) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, r.ComputedTraitCondition) and current.name == name:
            return True
        stack.extend(r.children(current))
    return False


def delete_trait(session: Session, name: str) -> None:
    """Delete a computed trait (and its values), unless a segment's rule uses it."""
    trait = get_trait(session, name)
    for segment in session.scalars(select(Segment).order_by(Segment.slug)):
        if _uses(r.parse_rules(segment.rules), name):
            raise Conflict(f"segment {segment.slug!r} uses {name!r}", code="trait_in_use")
    session.delete(trait)


def computed_traits_of(session: Session, customer_id: uuid.UUID) -> list[tuple[str, Any, datetime]]:
    """A customer's computed traits: name, value and when it last changed, by name (for the
    360° page, the API and the CLI). A count or sum with no events shows as 0."""
    rows = session.execute(
        select(
            ComputedTrait.name,
            ComputedTrait.aggregate,
            CustomerTrait.value,
            CustomerTrait.updated_at,
        )
        .join(
            CustomerTrait,
            (CustomerTrait.trait_id == ComputedTrait.id)
            & (CustomerTrait.customer_id == customer_id),
            isouter=True,
        )
        .order_by(ComputedTrait.name)
    ).all()
    found: list[tuple[str, Any, datetime]] = []
    for name, aggregate, value, updated_at in rows:
        if value is not None:
            found.append((name, value.get("value"), updated_at))
        elif aggregate in ("count", "sum"):
            found.append((name, 0, updated_at))
    return found


#: How many recent events the property pickers read, and how many values they offer each.
_PROPERTY_SAMPLE = 2000
_PROPERTY_VALUES = 20


def event_properties(session: Session) -> dict[str, dict[str, list[str]]]:
    """Each event name's properties with string values, and their commonest values, from the
    newest events (an index read, whatever the log's size): the builder's property filters
    (and the properties a computed trait may read)."""
    sample = session.execute(
        select(Event.name, Event.properties)
        .where(Event.type == "track", Event.name.is_not(None))
        .order_by(Event.id.desc())
        .limit(_PROPERTY_SAMPLE)
    ).all()
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for name, properties in sample:
        for key, value in (properties or {}).items():
            if isinstance(value, str) and re.fullmatch(r.NAME_PATTERN, key) and len(value) <= 200:
                seen = counts.setdefault(name, {}).setdefault(key, {})
                seen[value] = seen.get(value, 0) + 1
    return {
        name: {
            key: sorted(values, key=lambda v: (-values[v], v))[:_PROPERTY_VALUES]
            for key, values in sorted(keys.items())
        }
        for name, keys in counts.items()
    }


def count_values(session: Session, trait: ComputedTrait) -> int:
    """How many customers have a stored value of a trait."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(CustomerTrait)
            .where(CustomerTrait.trait_id == trait.id)
        )
        or 0
    )


# --- the consumer and the scheduled recompute ---------------------------------------------


def handle(session: Session, store: Store, events: Sequence[Event]) -> None:
    """Recompute, for the customers of these events, the traits defined on their names."""
    names = {e.name for e in events if e.customer_id is not None}
    if not names:
        return
    for trait in session.scalars(
        select(ComputedTrait).where(ComputedTrait.event.in_(names)).order_by(ComputedTrait.name)
    ):
        customers = [e.customer_id for e in events if e.customer_id and e.name == trait.event]
        recompute(session, trait, customers=customers)


#: Declared before the membership consumer, which never overtakes it (``Consumer.after``):
#: segments testing a computed trait see it updated for the same events.
CONSUMER = Consumer(name=TRAITS_CONSUMER_NAME, handle=handle)


def recompute_all(store: Store, *, now: datetime | None = None) -> dict[str, int]:
    """Recompute every trait for every customer (windows expire), each in its transaction."""
    return each_in_own_transaction(
        store,
        ComputedTrait,
        ComputedTrait.name,
        lambda session, trait: recompute(session, trait, now=now),
    )


def _recompute_job(store: Store, settings: Settings) -> None:
    recompute_all(store)


RECOMPUTE = ScheduledJob(
    name="segments.traits",
    description="Recompute computed traits for every customer (their windows move on).",
    schedule=lambda settings: f"every {settings.segments.traits_minutes} minutes",
    run=_recompute_job,
    lease=timedelta(minutes=30),
)

"""Ingesting tracking calls: validate, normalise, scrub, stitch identities, store — per batch.

The whole batch is handled with set-based queries (one identity look-up, one duplicate check,
bulk inserts), never a round trip per event, and is written in the caller's transaction: the
HTTP layer acknowledges only after that transaction commits. A bad message is rejected with
its index and reason while the good ones land.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.identity.models import SEALED_FIELDS, Customer, CustomerIdentity
from clientvault.identity.profiles import (
    PreparedProfile,
    coarse_attributes,
    customer_row,
    prepare_profile,
    sealed_columns,
)
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.models import Event, ScrubCount
from clientvault.ingest.scrub import Scrubber, keyed_hasher, truncate_ip
from clientvault.ingest.spec import (
    MAX_EVENT_BYTES,
    Alias,
    Identify,
    InvalidMessage,
    Message,
    Page,
    Screen,
    Track,
    parse_message,
)
from clientvault.ingest.traits import InvalidTraits, profile_from_traits, without_identifiers
from clientvault.privacy.tombstones import suppress_erased
from clientvault.store.base import new_id, table_of, utcnow
from clientvault.store.context import Store

_CUSTOMERS = table_of(Customer)
_EVENTS = table_of(Event)
#: A batch's events mostly share their client's address: truncate each address once.
_network_of = functools.lru_cache(maxsize=4096)(truncate_ip)
#: Priority of identifiers when one call names several customers (most specific first).
_PRIORITY = ("user_id", "email", "phone", "anonymous_id")
#: Serialises event inserts on PostgreSQL so ids become visible in commit order; consumers
#: can then read "past their cursor" without ever skipping a late-committing event.
_EVENT_LOG_LOCK = 7_242_001
#: The identity kind an alias's previous id is looked up as.
_LOOKUP_KIND = {"previous_id": "user_id", "previous_anonymous_id": "anonymous_id"}


@dataclass(frozen=True)
class Rejection:
    """A message refused: its position in the call and why (no input values echoed)."""

    index: int
    reason: str


@dataclass
class BatchResult:
    """What happened to a call's messages."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    scrubbed: dict[str, int] = field(default_factory=dict)
    customers_created: int = 0


@dataclass
class _Prepared:
    index: int
    message: Message
    message_id: str
    occurred_at: datetime
    identifiers: dict[str, bytes]  # kind -> blind index
    profile: PreparedProfile | None
    customer_id: uuid.UUID | None = None


@dataclass
class _Resolution:
    """Identity decisions for one batch, made in memory before anything is written."""

    owners: dict[tuple[str, bytes], uuid.UUID]
    new_customers: dict[uuid.UUID, PreparedProfile | None] = field(default_factory=dict)
    updates: dict[uuid.UUID, PreparedProfile] = field(default_factory=dict)
    new_identities: list[dict[str, Any]] = field(default_factory=list)
    attach_anonymous: dict[bytes, uuid.UUID] = field(default_factory=dict)


def ingest(
    session: Session,
    store: Store,
    *,
    source: str,
    messages: Sequence[object],
    default_region: str,
    implied_type: str | None = None,
    batch_sent_at: datetime | None = None,
    client_ip: str | None = None,
    received_at: datetime | None = None,
) -> BatchResult:
    """Store a call's valid messages in the caller's transaction and report on every one."""
    received = received_at or utcnow()
    result = BatchResult()
    scrubber = Scrubber(
        keyed_hasher(store.keystore.material.index_key), default_region=default_region
    )
    prepared: list[_Prepared] = []
    seen_ids: set[str] = set()
    for index, raw in enumerate(messages):
        try:
            item = _prepare(
                index,
                raw,
                store=store,
                implied_type=implied_type,
                default_region=default_region,
                batch_sent_at=batch_sent_at,
                received=received,
                scrubber=scrubber,
            )
        except InvalidMessage as exc:
            result.rejected.append(Rejection(index=index, reason=exc.reason))
            continue
        if item.message_id in seen_ids:
            result.duplicates += 1
            continue
        seen_ids.add(item.message_id)
        prepared.append(item)
    # Calls about an erased person are dropped, counted on their tombstones (privacy.erasure).
    prepared = suppress_erased(session, store, prepared, lambda p: p.identifiers.values())

    known = _existing_message_ids(session, [p.message_id for p in prepared])
    fresh = [p for p in prepared if p.message_id not in known]
    result.duplicates += len(prepared) - len(fresh)
    if not fresh:
        return result

    resolution = _resolve(session, fresh)
    result.customers_created = _write_customers(session, store, resolution, source=source)
    rows = [
        _event_row(p, scrubber, source=source, client_ip=client_ip, received=received)
        for p in fresh
    ]
    _lock_event_log(session)
    session.execute(_insert_ignoring_duplicates(session.get_bind()), rows)
    _attach_anonymous_events(session, resolution.attach_anonymous)
    _count_scrubbed(session, source, scrubber.counts)
    result.accepted = len(fresh)
    result.scrubbed = dict(scrubber.counts)
    return result


def _attach_anonymous_events(session: Session, attach: dict[bytes, uuid.UUID]) -> None:
    """Give a visitor's earlier anonymous events to the customer they turned out to be.

    One query finds which of the newly linked anonymous ids have unattached events at all
    (usually none: most are first seen in this very batch), then one executemany updates those.
    """
    if not attach:
        return
    wanted = list(attach)
    pending: set[bytes] = set()
    for start in range(0, len(wanted), 900):
        pending.update(
            session.scalars(
                select(Event.anonymous_index)
                .where(
                    Event.anonymous_index.in_(wanted[start : start + 900]),
                    Event.customer_id.is_(None),
                )
                .distinct()
            )
        )
    if not pending:
        return
    events = table_of(Event)
    session.execute(
        update(events)
        .where(events.c.anonymous_index == bindparam("anonymous"), events.c.customer_id.is_(None))
        .values(customer_id=bindparam("customer")),
        [{"anonymous": index, "customer": attach[index]} for index in pending],
    )


def _prepare(
    index: int,
    raw: object,
    *,
    store: Store,
    implied_type: str | None,
    default_region: str,
    batch_sent_at: datetime | None,
    received: datetime,
    scrubber: Scrubber,
) -> _Prepared:
    if implied_type is None and len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
        raise InvalidMessage("event larger than 32 KB")
    message = parse_message(raw, implied_type=implied_type)
    profile = None
    if isinstance(message, Identify):
        try:
            update = profile_from_traits(_identify_traits(message))
            # Custom traits are kept on the profile in the clear: scrub them like properties.
            update.traits = scrubber.scrub(update.traits)
            profile = prepare_profile(update, default_region=default_region)
        except InvalidTraits as exc:
            raise InvalidMessage(str(exc)) from None
        except InvalidInput as exc:
            raise InvalidMessage(f"traits.{exc.details.get('field', '?')}: {exc.message}") from None
    identifiers: dict[str, bytes] = {}
    if message.user_id is not None:
        identifiers["user_id"] = store.index("user_id", message.user_id)
    if message.anonymous_id is not None:
        identifiers["anonymous_id"] = store.index("anonymous_id", message.anonymous_id)
    if profile is not None:
        for kind in ("email", "phone"):
            value = profile.identifiers[kind]
            if value is not None:
                identifiers[kind] = store.index(kind, value)
    if isinstance(message, Alias):
        identifiers["previous_id"] = store.index("user_id", message.previous_id)
        identifiers["previous_anonymous_id"] = store.index("anonymous_id", message.previous_id)
    return _Prepared(
        index=index,
        message=message,
        message_id=message.message_id or f"cv-{uuid.uuid4()}",
        occurred_at=_occurred_at(message, batch_sent_at=batch_sent_at, received=received),
        identifiers=identifiers,
        profile=profile,
    )


def _identify_traits(message: Identify) -> dict[str, Any]:
    """An identify's traits: Segment allows them in ``context.traits`` too (RudderStack's SDK
    puts them only there); top-level traits win where both name the same trait."""
    context_traits = message.context.get("traits")
    return {**(context_traits if isinstance(context_traits, dict) else {}), **message.traits}


def _occurred_at(
    message: Message, *, batch_sent_at: datetime | None, received: datetime
) -> datetime:
    """Segment's clock-skew correction: ``receivedAt - (sentAt - originalTimestamp)``."""
    original = message.original_timestamp or message.timestamp
    sent = message.sent_at or batch_sent_at
    if original is None:
        return received
    original = _aware(original)
    if sent is None:
        return original
    return received - (_aware(sent) - original)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidMessage("timestamps must carry a time zone (ISO 8601 with offset or Z)")
    return moment


def _existing_message_ids(session: Session, message_ids: list[str]) -> set[str]:
    # Core on the session's connection: the ORM layer adds nothing here but time.
    connection, column = session.connection(), _EVENTS.c.message_id
    found: set[str] = set()
    for start in range(0, len(message_ids), 900):
        chunk = message_ids[start : start + 900]
        found.update(connection.scalars(select(column).where(column.in_(chunk))))
    return found


def _resolve(session: Session, batch: list[_Prepared]) -> _Resolution:
    """Decide, in call order, which customer each message belongs to (deterministic stitching).

    Known identifiers are looked up in one query. An identify, alias, or any call with a
    userId, names a person: an unknown one becomes a new customer. Identifiers seen for the
    first time are linked to the message's customer; one already owned by another customer is
    left alone (merging two known people is the identity-resolution job's decision, not this
    path's).
    """
    wanted: dict[str, set[bytes]] = {}
    for p in batch:
        for kind, value in p.identifiers.items():
            wanted.setdefault(_LOOKUP_KIND.get(kind, kind), set()).add(value)
    owners: dict[tuple[str, bytes], uuid.UUID] = {}
    for lookup_kind, found in wanted.items():
        values = list(found)
        for start in range(0, len(values), 900):
            rows = session.execute(
                select(CustomerIdentity.value_index, CustomerIdentity.customer_id)
                .where(
                    CustomerIdentity.kind == lookup_kind,  # the lookup index leads with kind
                    CustomerIdentity.value_index.in_(values[start : start + 900]),
                )
                .order_by(CustomerIdentity.id)
            )
            for value_index, customer_id in rows:
                owners.setdefault((lookup_kind, value_index), customer_id)
    resolution = _Resolution(owners=owners)
    for item in batch:
        _resolve_one(item, resolution)
    return resolution


def _resolve_one(item: _Prepared, resolution: _Resolution) -> None:
    owners = resolution.owners
    ids = dict(item.identifiers)
    if isinstance(item.message, Alias):
        previous = owners.get(("user_id", ids.pop("previous_id"))) or owners.get(
            ("anonymous_id", ids["previous_anonymous_id"])
        )
        anonymous_previous = ids.pop("previous_anonymous_id")
        if previous is not None and ("user_id", ids["user_id"]) not in owners:
            _link(resolution, previous, "user_id", ids["user_id"], item)
        elif previous is None and ("user_id", ids["user_id"]) in owners:
            _link(
                resolution,
                owners[("user_id", ids["user_id"])],
                "anonymous_id",
                anonymous_previous,
                item,
            )
    customer = next(
        (
            owners[(kind, ids[kind])]
            for kind in _PRIORITY
            if kind in ids and (kind, ids[kind]) in owners
        ),
        None,
    )
    names_a_person = isinstance(item.message, Identify | Alias) or "user_id" in ids
    if customer is None and names_a_person:
        customer = new_id()
        resolution.new_customers[customer] = item.profile
    elif customer is not None and item.profile is not None:
        if customer in resolution.new_customers:
            resolution.new_customers[customer] = _merge(
                resolution.new_customers[customer], item.profile
            )
        else:
            previous_update = resolution.updates.get(customer)
            resolution.updates[customer] = (
                item.profile if previous_update is None else _merge(previous_update, item.profile)
            )
    if customer is not None:
        for kind, value in ids.items():
            if (kind, value) not in owners:
                _link(resolution, customer, kind, value, item)
    item.customer_id = customer


def _link(
    resolution: _Resolution, customer: uuid.UUID, kind: str, value: bytes, item: _Prepared
) -> None:
    resolution.owners[(kind, value)] = customer
    resolution.new_identities.append(
        {
            "customer_id": customer,
            "kind": kind,
            "value_index": value,
            "source": None,
            "first_seen_at": item.occurred_at,
            "last_seen_at": item.occurred_at,
        }
    )
    if kind == "anonymous_id":
        resolution.attach_anonymous[value] = customer


def _merge(earlier: PreparedProfile | None, later: PreparedProfile) -> PreparedProfile:
    """Two identify calls for one person in a batch: later non-empty values win."""
    if earlier is None:
        return later
    fields = earlier.profile.model_dump(exclude_none=True)
    fields.update(later.profile.model_dump(exclude_none=True, exclude={"traits"}))
    fields["traits"] = {**earlier.profile.traits, **later.profile.traits}
    identifiers = {
        key: later.identifiers[key] or earlier.identifiers[key] for key in earlier.identifiers
    }
    return PreparedProfile(
        profile=CustomerCreate.model_validate(fields),
        identifiers=identifiers,
        country=later.country or earlier.country,
    )


def _write_customers(
    session: Session, store: Store, resolution: _Resolution, *, source: str
) -> int:
    new_ids = list(resolution.new_customers)
    if new_ids:
        keys = store.keystore.create_keys(new_ids)
        empty = PreparedProfile(
            profile=CustomerCreate(), identifiers=dict.fromkeys(SEALED_FIELDS), country=None
        )
        rows = [
            customer_row(store, keys[cid], resolution.new_customers[cid] or empty, source=source)
            for cid in new_ids
        ]
        session.execute(insert(table_of(Customer)), rows)
    if resolution.updates:
        _update_customers(session, store, resolution.updates)
    if resolution.new_identities:
        for identity in resolution.new_identities:
            identity["source"] = source
        session.execute(insert(table_of(CustomerIdentity)), resolution.new_identities)
    return len(new_ids)


def _update_customers(
    session: Session, store: Store, updates: dict[uuid.UUID, PreparedProfile]
) -> None:
    """Apply identify traits to existing profiles: provided values replace stored ones."""
    keys = store.keystore.keys_for(updates)
    current: dict[uuid.UUID, dict[str, Any]] = {
        customer_id: traits
        for customer_id, traits in session.execute(
            select(Customer.id, Customer.traits).where(Customer.id.in_(list(updates)))
        )
    }
    columns = [
        *coarse_attributes(next(iter(updates.values()))),
        "traits",
        *(f"{c}_sealed" for c in SEALED_FIELDS),
        "email_index",
        "phone_index",
    ]
    params = []
    for customer_id, prepared in updates.items():
        key = keys.get(customer_id)
        if key is None or customer_id not in current:
            continue  # erased meanwhile: nothing to update
        values = {**coarse_attributes(prepared), **sealed_columns(store, key, prepared)}
        values["traits"] = {**(current[customer_id] or {}), **prepared.profile.traits}
        params.append({"cid": customer_id, **{f"new_{c}": values[c] for c in columns}})
    if not params:
        return
    statement = (
        update(_CUSTOMERS)
        .where(_CUSTOMERS.c.id == bindparam("cid"))
        .values(
            {
                column: func.coalesce(bindparam(f"new_{column}"), _CUSTOMERS.c[column])
                for column in columns
                if column != "traits"
            }
            | {
                "traits": bindparam("new_traits", type_=_CUSTOMERS.c.traits.type),
                "updated_at": utcnow(),
            }
        )
    )
    session.execute(statement, params)


def _event_row(
    item: _Prepared, scrubber: Scrubber, *, source: str, client_ip: str | None, received: datetime
) -> dict[str, Any]:
    message = item.message
    properties: dict[str, Any] = {}
    name: str | None = None
    if isinstance(message, Track):
        name, properties = message.event, message.properties
    elif isinstance(message, Page | Screen):
        name, properties = message.name, dict(message.properties)
        if isinstance(message, Page) and message.category:
            properties["category"] = message.category
    elif isinstance(message, Identify):
        # Which traits changed, not their values.
        properties = {"traits": sorted(_identify_traits(message))}
    context = dict(message.context)
    if isinstance(context.get("traits"), dict):
        context["traits"] = without_identifiers(context["traits"])
    ip = context.pop("ip", None) or client_ip
    # Scrub before adding the network: a truncated IPv4 address looks like a phone number.
    context = scrubber.scrub(context)
    if isinstance(ip, str) and (network := _network_of(ip)) is not None:
        context["ip_network"] = network
    anonymous = item.identifiers.get("anonymous_id")
    return {
        "message_id": item.message_id,
        "type": message.type,
        "name": name,
        "customer_id": item.customer_id,
        "anonymous_index": anonymous,
        "user_index": item.identifiers.get("user_id"),
        "occurred_at": item.occurred_at,
        "received_at": received,
        "source": source,
        "properties": scrubber.scrub(properties),
        "context": context,
    }


def _lock_event_log(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENT_LOG_LOCK})


def _insert_ignoring_duplicates(bind: Engine | Any) -> Any:
    """INSERT … ON CONFLICT (message_id) DO NOTHING: a concurrent duplicate is not an error."""
    dialect_insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(_EVENTS).on_conflict_do_nothing(index_elements=["message_id"])


def _count_scrubbed(session: Session, source: str, counts: dict[str, int]) -> None:
    for kind, count in counts.items():
        changed = session.execute(
            update(ScrubCount)
            .where(ScrubCount.source == source, ScrubCount.kind == kind)
            .values(count=ScrubCount.count + count)
        )
        if not changed.rowcount:  # type: ignore[attr-defined]
            session.execute(insert(ScrubCount).values(source=source, kind=kind, count=count))

"""Ingesting tracking calls: validate, normalise, scrub, stitch identities, store — per batch.

Two phases. ``prepare_batch`` does everything that needs no database (parsing, normalising,
blind indexes, scrubbing, the event rows themselves) so that a server runs it in the request's
own thread, while another call holds the write transaction. ``store_batch`` then does the
database work in the caller's transaction with set-based queries (one look-up per identifier
kind, one duplicate check, one bulk insert), never a round trip per event; the HTTP layer
acknowledges only after that transaction commits. A bad message is rejected with its index and
reason while the good ones land.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.identity.graph import Indexer, context_identifiers, stitching_rules
from clientvault.identity.profiles import PreparedProfile, name_indexes, prepare_profile
from clientvault.identity.stitching import resolve, write_customers
from clientvault.ingest.event_log import lock_event_log
from clientvault.ingest.groups import group_event_properties
from clientvault.ingest.models import Event, ScrubCount
from clientvault.ingest.scrub import Scrubber, keyed_hasher, truncate_ip
from clientvault.ingest.spec import (
    MAX_EVENT_BYTES,
    Alias,
    Group,
    Identify,
    InvalidMessage,
    Message,
    Page,
    Screen,
    Track,
    parse_message,
)
from clientvault.ingest.traits import InvalidTraits, profile_from_traits, without_identifiers
from clientvault.privacy.consent import record_gpc_opt_out
from clientvault.privacy.tombstones import digester, suppress_erased
from clientvault.settings import DEFAULT_URL_PARAMETERS, IdentitySettings
from clientvault.store.base import table_of, utcnow
from clientvault.store.context import Store
from clientvault.store.driver_sql import DialectRef, TableCodec, insert_rows, rows_in
from clientvault.store.engine import json_serializer

_EVENTS = table_of(Event)
#: The events table's columns an ingested call fills, in the order of a prepared row.
EVENT_COLUMNS = (
    "message_id",
    "type",
    "name",
    "customer_id",
    "anonymous_index",
    "user_index",
    "occurred_at",
    "received_at",
    "source",
    "properties",
    "context",
)
#: A batch's events mostly share their client's address: truncate each address once.
_network_of = functools.lru_cache(maxsize=4096)(truncate_ip)


@dataclass(frozen=True)
class Rejection:
    """A message refused: its position in the call and why (no input values echoed)."""

    index: int
    reason: str


@dataclass
class BatchResult:
    """What happened to a call's messages. ``identifier_conflicts``: identifiers kept aside
    because another customer holds them at their kind's limit (``IdentifierConflict``);
    ``blocked_identifiers``: placeholder values (``identity.blocked_values``) dropped."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    scrubbed: dict[str, int] = field(default_factory=dict)
    customers_created: int = 0
    identifier_conflicts: int = 0
    blocked_identifiers: int = 0


@dataclass
class _Prepared:
    """A message ready to store: plain values only, so that it travels to the ingest writer
    process cheaply (``ingest.writer``); stitching resolves it as it is (an
    ``identity.stitching.Sighting``)."""

    index: int
    message_id: str
    occurred_at: datetime
    identifiers: dict[str, bytes]  # kind -> blind index
    profile: PreparedProfile | None
    names_person: bool  # an identify or alias: it may link identifiers to one customer
    is_alias: bool
    tombstones: set[bytes] = field(default_factory=set)  # digests of the blind indexes
    row: list[Any] = field(default_factory=list)  # driver values, in EVENT_COLUMNS order
    scrubbed: Counter[str] | None = None
    customer_id: uuid.UUID | None = None
    call: int = 0  # which of the calls stored together (``store_batches``) it belongs to

    def __reduce__(self) -> tuple[type[_Prepared], tuple[Any, ...]]:
        # Rebuilt from its fields in one call: about half the cost of pickle's default for
        # an object (a new instance, then its attribute dict), for every message sent to
        # the writer.
        return _Prepared, _FIELDS(self)


_FIELDS = operator.attrgetter(*(f.name for f in fields(_Prepared)))


@dataclass
class PreparedBatch:
    """A call's messages checked and turned into event rows, before any database work."""

    source: str
    items: list[_Prepared] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: int = 0


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
    identity: IdentitySettings | None = None,
    gpc_policy_version: str | None = None,
    url_parameters: Sequence[str] = DEFAULT_URL_PARAMETERS,
    prepared: PreparedBatch | None = None,
) -> BatchResult:
    """Store a call's valid messages in the caller's transaction and report on every one
    (``prepare_batch`` then ``store_batch``, for callers with nothing to overlap).
    ``prepared``: ``messages`` prepared already with these options (an import prepares its
    next chunks in a helper process, ``ingest.import_preparing``)."""
    batch = prepared or prepare_batch(
        store,
        source=source,
        messages=messages,
        default_region=default_region,
        implied_type=implied_type,
        batch_sent_at=batch_sent_at,
        client_ip=client_ip,
        received_at=received_at,
        url_parameters=url_parameters,
    )
    return store_batch(
        session, store, batch, identity=identity, gpc_policy_version=gpc_policy_version
    )


def prepare_batch(
    store: Store,
    *,
    source: str,
    messages: Sequence[object],
    default_region: str,
    implied_type: str | None = None,
    batch_sent_at: datetime | None = None,
    client_ip: str | None = None,
    received_at: datetime | None = None,
    url_parameters: Sequence[str] = DEFAULT_URL_PARAMETERS,
) -> PreparedBatch:
    """Check, normalise and scrub a call's messages into event rows; no database work, so
    it can run outside (and alongside) the transaction that will store them.

    Invalid messages are set aside with their index and reason; a message id repeated within
    the call counts as a duplicate. ``url_parameters``: the query parameters tracked URLs
    keep (``privacy.url_parameters``)."""
    received = received_at or utcnow()
    batch = PreparedBatch(source=source)
    scrubber = Scrubber(
        keyed_hasher(store.keystore.material.index_key),
        default_region=default_region,
        url_parameters=url_parameters,
    )
    codec = _row_codec(store)
    tombstones = digester(store)
    # Each identifier is indexed once per call: an SDK batches one device's events, which
    # share their user's ids (two keyed hashes an event otherwise, with the tombstones).
    indexer = functools.cache(store.index)
    seen_ids: set[str] = set()
    for index, raw in enumerate(messages):
        try:
            item, message = _prepare(
                index,
                raw,
                indexer=indexer,
                implied_type=implied_type,
                default_region=default_region,
                batch_sent_at=batch_sent_at,
                received=received,
                scrubber=scrubber,
            )
        except InvalidMessage as exc:
            batch.rejected.append(Rejection(index=index, reason=exc.reason))
            scrubber.counts.clear()
            continue
        if item.message_id in seen_ids:
            batch.duplicates += 1
            scrubber.counts.clear()
            continue
        seen_ids.add(item.message_id)
        values = _event_values(
            item, message, scrubber, source=source, client_ip=client_ip, received=received
        )
        item.row = codec.encode(values)
        # Erasure tombstones are keyed hashes of blind indexes (privacy.tombstones).
        item.tombstones = tombstones(item.identifiers.values())
        if scrubber.counts:  # rare: kept per message, counted only if the message is stored
            item.scrubbed, scrubber.counts = scrubber.counts, Counter()
        batch.items.append(item)
    return batch


def store_batch(
    session: Session,
    store: Store,
    batch: PreparedBatch,
    *,
    identity: IdentitySettings | None = None,
    gpc_policy_version: str | None = None,
) -> BatchResult:
    """Store a prepared call in the caller's transaction: drop calls about erased people and
    already stored message ids, stitch identities, insert the events.

    ``identity``: the identity graph's stitching rules (the defaults when None).
    ``gpc_policy_version``: set when the call carried ``Sec-GPC: 1`` (Global Privacy Control):
    every customer the call's events belong to is opted out of sale/share, under that policy
    version, in the same transaction."""
    return store_batches(session, store, [(batch, gpc_policy_version)], identity=identity)[0]


def store_batches(
    session: Session,
    store: Store,
    calls: Sequence[tuple[PreparedBatch, str | None]],
    *,
    identity: IdentitySettings | None = None,
) -> list[BatchResult]:
    """Store several prepared calls of one source (each with its GPC policy version, see
    ``store_batch``) in the caller's transaction as if one after the other, with one look-up
    of each kind and one insert for them all; each call's own result, in order.

    The ingest writer stores the calls that queued up while it committed this way: a round
    trip per look-up per group rather than per call."""
    if len({batch.source for batch, _ in calls}) > 1:
        raise ValueError("store_batches stores calls of one source")
    results = [
        BatchResult(rejected=list(batch.rejected), duplicates=batch.duplicates)
        for batch, _ in calls
    ]
    items: list[_Prepared] = []
    for number, (batch, _) in enumerate(calls):
        for item in batch.items:
            item.call = number
            items.append(item)
    # Taken first on PostgreSQL, so that no other transaction adds events between the
    # duplicate check and the insert.
    lock_event_log(session)
    # Calls about an erased person are dropped, counted on their tombstones (privacy.erasure).
    prepared = suppress_erased(session, items, lambda p: p.tombstones)
    connection = session.connection()
    stored = _existing_message_ids(connection, [p.message_id for p in prepared])
    fresh: list[_Prepared] = []
    for item in prepared:
        if item.message_id in stored:  # stored before, or by an earlier call of this group
            results[item.call].duplicates += 1
        else:
            stored.add(item.message_id)
            fresh.append(item)
    if not fresh:
        return results

    source = calls[0][0].source
    resolution = resolve(session, fresh, stitching_rules(store, identity))
    write_customers(session, store, resolution, source=source)
    for position in resolution.blocked:
        results[fresh[position].call].blocked_identifiers += 1
    for position, _ in resolution.conflicts:
        results[fresh[position].call].identifier_conflicts += 1
    created = set(resolution.new_customers)
    codec = _row_codec(store)
    customer_at = codec.slot("customer_id")
    for item in fresh:
        item.row[customer_at] = codec.convert("customer_id", item.customer_id)
        result = results[item.call]
        result.accepted += 1
        if item.customer_id in created:  # counted for the call that first named them
            created.discard(item.customer_id)
            result.customers_created += 1
        if item.scrubbed:
            result.scrubbed = dict(Counter(result.scrubbed) + item.scrubbed)
    if created:  # profiles no stored event belongs to (none known so far): the first call's
        results[fresh[0].call].customers_created += len(created)
    insert_rows(connection, _EVENTS, EVENT_COLUMNS, [tuple(item.row) for item in fresh])
    _attach_anonymous_events(session, resolution.attach_anonymous)
    _count_scrubbed(session, source, sum((Counter(r.scrubbed) for r in results), Counter()))
    for number, (_, gpc_policy_version) in enumerate(calls):
        if gpc_policy_version is not None:
            customers = (p.customer_id for p in fresh if p.call == number and p.customer_id)
            for customer_id in dict.fromkeys(customers):
                record_gpc_opt_out(
                    session, customer_id=customer_id, policy_version=gpc_policy_version
                )
    return results


def _row_codec(store: Store) -> TableCodec:
    """What turns an event row into driver values; its customer is filled in once stitched,
    its JSON documents arrive serialised by the scrubber."""
    return _codec_for(DialectRef.of(store.engine))


@functools.lru_cache(maxsize=4)
def _codec_for(dialect: DialectRef) -> TableCodec:
    return TableCodec(
        _EVENTS, EVENT_COLUMNS, dialect.load(), deferred=("customer_id", "properties", "context")
    )


def _attach_anonymous_events(session: Session, attach: dict[bytes, uuid.UUID]) -> None:
    """Give a visitor's earlier anonymous events to the customer they turned out to be.

    One query finds which of the newly linked anonymous ids have unattached events at all
    (usually none: most are first seen in this very batch), then one executemany updates those.
    """
    if not attach:
        return
    pending = {
        value
        for (value,) in rows_in(
            session.connection(),
            "SELECT DISTINCT anonymous_index FROM events"
            " WHERE anonymous_index {in} AND customer_id IS NULL",
            list(attach),
        )
    }
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
    indexer: Indexer,
    implied_type: str | None,
    default_region: str,
    batch_sent_at: datetime | None,
    received: datetime,
    scrubber: Scrubber,
) -> tuple[_Prepared, Message]:
    # Parsed first: it refuses a message nesting too deep for serialising it to measure it.
    message = parse_message(raw, implied_type=implied_type)
    if implied_type is None and len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
        raise InvalidMessage("event larger than 32 KB")
    profile = None
    if isinstance(message, Identify):
        try:
            update = profile_from_traits(_identify_traits(message))
            # Custom traits are kept on the profile in the clear: scrub them like properties.
            update.traits = scrubber.scrub(update.traits, person=True)
            profile = prepare_profile(update, default_region=default_region)
        except InvalidTraits as exc:
            raise InvalidMessage(str(exc)) from None
        except InvalidInput as exc:
            raise InvalidMessage(f"traits.{exc.details.get('field', '?')}: {exc.message}") from None
    identifiers: dict[str, bytes] = {}
    if message.user_id is not None:
        identifiers["user_id"] = indexer("user_id", message.user_id)
    if message.anonymous_id is not None:
        identifiers["anonymous_id"] = indexer("anonymous_id", message.anonymous_id)
    if profile is not None:
        for kind in ("email", "phone"):
            value = profile.identifiers[kind]
            if value is not None:
                # Kept on the profile too: its row's blind index is the same (not computed again).
                identifiers[kind] = profile.indexes[kind] = indexer(kind, value)
        # Not identifiers, but the customer list's: computed here too, off the writing path.
        profile.indexes.update(name_indexes(indexer, profile.identifiers))
    identifiers.update(context_identifiers(indexer, message.context))
    if isinstance(message, Alias):
        identifiers["previous_id"] = indexer("user_id", message.previous_id)
        identifiers["previous_anonymous_id"] = indexer("anonymous_id", message.previous_id)
    item = _Prepared(
        index=index,
        message_id=message.message_id or f"cv-{uuid.uuid4()}",
        occurred_at=_occurred_at(message, batch_sent_at=batch_sent_at, received=received),
        identifiers=identifiers,
        profile=profile,
        names_person=isinstance(message, Identify | Alias),
        is_alias=isinstance(message, Alias),
    )
    return item, message


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


def _existing_message_ids(connection: Connection, message_ids: list[str]) -> set[str]:
    sql = "SELECT message_id FROM events WHERE message_id {in}"
    return {message_id for (message_id,) in rows_in(connection, sql, message_ids)}


def _event_values(
    item: _Prepared,
    message: Message,
    scrubber: Scrubber,
    *,
    source: str,
    client_ip: str | None,
    received: datetime,
) -> tuple[Any, ...]:
    """An event's values in EVENT_COLUMNS order (its customer still unknown), the JSON
    documents scrubbed and serialised."""
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
    elif isinstance(message, Group):
        # The group's id and traits, scrubbed below with the rest: they describe an account
        # (its name, plan, seats), and the groups consumer reads them from here.
        properties = group_event_properties(message.group_id, message.traits)
    context = dict(message.context)
    if isinstance(context.get("traits"), dict):
        context["traits"] = without_identifiers(context["traits"])
    if isinstance(context.get("externalIds"), list):
        # External ids are identifiers (the graph keeps their blind indexes): types only here.
        context["externalIds"] = [
            {"type": entry.get("type")}
            for entry in context["externalIds"]
            if isinstance(entry, dict)
        ]
    ip = context.pop("ip", None) or client_ip
    # Scrubbed before the network is added: a truncated IPv4 address looks like a phone number.
    return (
        item.message_id,
        message.type,
        name,
        None,
        item.identifiers.get("anonymous_id"),
        item.identifiers.get("user_id"),
        item.occurred_at,
        received,
        source,
        scrubber.scrub_to_json(properties),
        _with_network(scrubber.scrub(context), ip),
    )


def _with_network(context: dict[str, Any], ip: object) -> str:
    """The scrubbed context's JSON text, with the client's network (never its address)."""
    if isinstance(ip, str) and (network := _network_of(ip)) is not None:
        context = {**context, "ip_network": network}
    return json_serializer(context)


def _count_scrubbed(session: Session, source: str, counts: dict[str, int]) -> None:
    for kind, count in counts.items():
        changed = session.execute(
            update(ScrubCount)
            .where(ScrubCount.source == source, ScrubCount.kind == kind)
            .values(count=ScrubCount.count + count)
        )
        if not changed.rowcount:  # type: ignore[attr-defined]
            session.execute(insert(ScrubCount).values(source=source, kind=kind, count=count))

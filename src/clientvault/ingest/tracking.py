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
from sqlalchemy import Engine, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.identity.graph import StitchingRules, context_identifiers, stitching_rules
from clientvault.identity.profiles import PreparedProfile, prepare_profile
from clientvault.identity.stitching import Resolution, Sighting, resolve, write_customers
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
from clientvault.privacy.consent import record_gpc_opt_out
from clientvault.privacy.tombstones import suppress_erased
from clientvault.settings import IdentitySettings
from clientvault.store.base import table_of, utcnow
from clientvault.store.context import Store

_EVENTS = table_of(Event)
#: A batch's events mostly share their client's address: truncate each address once.
_network_of = functools.lru_cache(maxsize=4096)(truncate_ip)
#: Serialises event inserts on PostgreSQL so ids become visible in commit order; consumers
#: can then read "past their cursor" without ever skipping a late-committing event.
_EVENT_LOG_LOCK = 7_242_001


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
) -> BatchResult:
    """Store a call's valid messages in the caller's transaction and report on every one.

    ``identity``: the identity graph's stitching rules (the defaults when None).
    ``gpc_policy_version``: set when the call carried ``Sec-GPC: 1`` (Global Privacy Control):
    every customer the call's events belong to is opted out of sale/share, under that policy
    version, in the same transaction."""
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

    resolution = _resolve(session, fresh, stitching_rules(store, identity))
    result.customers_created = write_customers(session, store, resolution, source=source)
    rows = [
        _event_row(p, scrubber, source=source, client_ip=client_ip, received=received)
        for p in fresh
    ]
    _lock_event_log(session)
    session.execute(_insert_ignoring_duplicates(session.get_bind()), rows)
    _attach_anonymous_events(session, resolution.attach_anonymous)
    _count_scrubbed(session, source, scrubber.counts)
    if gpc_policy_version is not None:
        for customer_id in dict.fromkeys(p.customer_id for p in fresh if p.customer_id):
            record_gpc_opt_out(session, customer_id=customer_id, policy_version=gpc_policy_version)
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
    identifiers.update(context_identifiers(store, message.context))
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


def _resolve(session: Session, batch: list[_Prepared], rules: StitchingRules) -> Resolution:
    """Deterministic stitching (``identity.stitching``): sets each message's customer."""
    sightings = [
        Sighting(
            identifiers=p.identifiers,
            profile=p.profile,
            occurred_at=p.occurred_at,
            names_person=isinstance(p.message, Identify | Alias),
            is_alias=isinstance(p.message, Alias),
        )
        for p in batch
    ]
    resolution = resolve(session, sightings, rules)
    for item, sighting in zip(batch, sightings, strict=True):
        item.customer_id = sighting.customer_id
    return resolution


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
    if isinstance(context.get("externalIds"), list):
        # External ids are identifiers (the graph keeps their blind indexes): types only here.
        context["externalIds"] = [
            {"type": entry.get("type")}
            for entry in context["externalIds"]
            if isinstance(entry, dict)
        ]
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

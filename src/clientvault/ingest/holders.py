"""The personal-data holders of ``ingest``: the event log, the orders and the group
memberships fed from it.

On erasure, a customer's group memberships are deleted (an anonymous member of an account
tells nothing; the group itself names no one and stays). Events and orders are either deleted
or anonymised (the ``erasure.mode`` setting). Anonymised rows keep what aggregate analytics
need and nothing that could name or reach the person: an event keeps its type, name (the
event's or the page's), times and source, and of its properties only the coarse ones of
``KEPT_PROPERTIES`` (amounts, currency, product and order references) when their values are
numbers or short codes; its free text, URLs, context, traits and every link to the person
(customer id, user and anonymous ids' blind indexes) go, because scrubbing cannot recognise a
name typed into a note. Orders keep their totals and lines and lose their customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from clientvault.identity.models import CustomerIdentity
from clientvault.ingest.commerce.models import Order, OrderItem, OrderRefund
from clientvault.ingest.models import Event, Group, GroupMember
from clientvault.ingest.scrub import SCRUB_TOKEN, TOKEN_LETTERS
from clientvault.privacy.holders.registry import (
    Holder,
    HolderContext,
    HolderErasure,
    Rows,
    delete_rows,
    register_holder,
    rows_of,
)
from clientvault.store.base import table_of

_CHUNK = 900  # ids per IN (...) list, under SQLite's bound-parameter limit
#: Identifier kinds the scrubber replaces by a token of their blind index (``ingest.scrub``).
_SCRUBBED = ("email", "phone")


def _person_event_ids(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> list[int]:
    """Events of the person: theirs, and anonymous ones from their devices never attached.

    Two indexed look-ups (by customer, by anonymous id) rather than one ``OR``, which
    SQLite would answer by scanning the whole event log.
    """
    ids = list(customer_ids)
    # The kind is filtered here, not in SQL: with it, SQLite picks the (kind, value) index and
    # walks every anonymous id instead of this customer's few identifiers.
    anonymous = [
        value
        for kind, value in ctx.session.execute(
            select(CustomerIdentity.kind, CustomerIdentity.value_index).where(
                CustomerIdentity.customer_id.in_(ids)
            )
        )
        if kind == "anonymous_id"
    ]
    found = set(ctx.session.scalars(select(Event.id).where(Event.customer_id.in_(ids))))
    for start in range(0, len(anonymous), _CHUNK):
        chunk = anonymous[start : start + _CHUNK]
        found.update(ctx.session.scalars(select(Event.id).where(Event.anonymous_index.in_(chunk))))
    return sorted(found)


def _chunks(event_ids: list[int]) -> list[list[int]]:
    return [event_ids[start : start + _CHUNK] for start in range(0, len(event_ids), _CHUNK)]


def _export_events(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    columns = [
        c for c in Event.__table__.columns if c.name not in ("anonymous_index", "user_index")
    ]
    return [
        dict(row._mapping)
        for chunk in _chunks(_person_event_ids(ctx, customer_ids))
        for row in ctx.session.execute(
            select(*columns).where(Event.id.in_(chunk)).order_by(Event.id)
        )
    ]


#: The properties an erased person's anonymised events keep, for revenue and product
#: analytics (Segment's e-commerce spec names); ``products`` keeps its lines' ``PRODUCT_FIELDS``.
KEPT_PROPERTIES = frozenset(
    {
        "revenue",
        "value",
        "total",
        "subtotal",
        "tax",
        "shipping",
        "discount",
        "price",
        "quantity",
        "currency",
        "order_id",
        "product_id",
        "sku",
        "category",
        "brand",
        "variant",
        "products",
    }
)
PRODUCT_FIELDS = frozenset(
    {"product_id", "sku", "category", "brand", "variant", "price", "quantity"}
)
#: A kept string is a code (a currency, a SKU, a category), not text: at most this long.
_MAX_CODE = 64


def _erase_events(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    event_ids = _person_event_ids(ctx, customer_ids)
    for chunk in _chunks(event_ids):
        if ctx.mode == "delete":
            ctx.session.execute(delete(Event).where(Event.id.in_(chunk)))
            continue
        _keep_coarse_properties(ctx, chunk)
        ctx.session.execute(
            update(Event)
            .where(Event.id.in_(chunk))
            .values(customer_id=None, anonymous_index=None, user_index=None, context={})
            .execution_options(synchronize_session=False)
        )
    return HolderErasure("deleted" if ctx.mode == "delete" else "anonymised", len(event_ids))


def _keep_coarse_properties(ctx: HolderContext, event_ids: list[int]) -> None:
    """Cut the events' properties down to ``coarse_properties``."""
    events = table_of(Event)
    rows = ctx.session.execute(select(Event.id, Event.properties).where(Event.id.in_(event_ids)))
    changed = [
        {"event": event_id, "kept": kept}
        for event_id, properties in rows
        if (kept := coarse_properties(properties)) != properties
    ]
    if changed:
        ctx.session.execute(
            update(events)
            .where(events.c.id == bindparam("event"))
            .values(properties=bindparam("kept", type_=events.c.properties.type)),
            changed,
        )


def _without_tokens(value: Any, only: frozenset[str]) -> Any:
    """``value`` with the scrubbing tokens ``only`` names reduced to their kind (``[email:…]``
    to ``[email]``); other tokens stay."""
    if isinstance(value, str):
        if "[" not in value:
            return value
        return SCRUB_TOKEN.sub(
            lambda found: f"[{found[1]}]" if found[0] in only else found[0],
            value,
        )
    if isinstance(value, dict):
        return {key: _without_tokens(item, only) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_tokens(item, only) for item in value]
    return value


def coarse_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """What an anonymised event keeps of its properties: ``KEPT_PROPERTIES`` holding numbers,
    booleans or short codes, and of each product line its ``PRODUCT_FIELDS`` alike."""
    kept: dict[str, Any] = {}
    for key, value in properties.items():
        if key == "products" and isinstance(value, list):
            kept[key] = [
                {
                    field: item
                    for field, item in line.items()
                    if field in PRODUCT_FIELDS and _code(item)
                }
                for line in value
                if isinstance(line, dict)
            ]
        elif key in KEPT_PROPERTIES and _code(value):
            kept[key] = value
    return kept


def _code(value: Any) -> bool:
    """A number, a boolean or a short code without a scrubbing token (a keyed hash of an
    identifier would still link the event to the person)."""
    if isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and len(value) <= _MAX_CODE and not SCRUB_TOKEN.search(value)


def _purge_events(ctx: HolderContext, cutoff: datetime) -> int:
    """Events received before ``cutoff``: the event retention period counts from when we
    received an event, not from the time it carries, so that history imported today (a CRM's
    2020 activity) is kept for the whole period rather than purged at the next run."""
    result = ctx.session.execute(delete(Event).where(Event.received_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _event_activity(since: datetime) -> Any:
    return select(Event.customer_id).where(Event.occurred_at >= since)


def _export_orders(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    orders = rows_of(ctx.session, Order, customer_ids=customer_ids)
    ids = [order["id"] for order in orders]
    items: dict[int, Rows] = {}
    for row in ctx.session.execute(
        select(OrderItem.order_id, OrderItem.product_id, OrderItem.quantity, OrderItem.unit_price)
        .where(OrderItem.order_id.in_(ids))
        .order_by(OrderItem.id)
    ):
        items.setdefault(row.order_id, []).append(dict(row._mapping))
    for order in orders:
        order["items"] = items.get(order["id"], [])
    return orders


def _erase_orders(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    where = Order.customer_id.in_(list(customer_ids))
    if ctx.mode == "delete":
        # Lines and refunds go with their order (ON DELETE CASCADE).
        result = ctx.session.execute(delete(Order).where(where))
        return HolderErasure("deleted", int(result.rowcount))  # type: ignore[attr-defined]
    result = ctx.session.execute(
        update(Order)
        .where(where)
        .values(customer_id=None)
        .execution_options(synchronize_session=False)
    )
    return HolderErasure("anonymised", int(result.rowcount))  # type: ignore[attr-defined]


def _purge_orders(ctx: HolderContext, cutoff: datetime) -> int:
    """Orders placed before ``cutoff``: the accounting period runs from the transaction's
    date, whenever we received it (an import of older orders warns first, ``bulk_import``)."""
    old = select(Order.id).where(Order.placed_at < cutoff)
    ctx.session.execute(delete(OrderRefund).where(OrderRefund.order_id.in_(old)))
    ctx.session.execute(delete(OrderItem).where(OrderItem.order_id.in_(old)))
    result = ctx.session.execute(delete(Order).where(Order.placed_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _order_activity(since: datetime) -> Any:
    return select(Order.customer_id).where(Order.placed_at >= since)


def _export_memberships(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    rows = ctx.session.execute(
        select(
            GroupMember.customer_id,
            Group.group_key.label("group_id"),
            Group.traits.label("group_traits"),
            GroupMember.first_seen_at,
            GroupMember.last_seen_at,
        )
        .join(Group, Group.id == GroupMember.group_id)
        .where(GroupMember.customer_id.in_(list(customer_ids)))
        .order_by(Group.group_key, GroupMember.customer_id)
    )
    return [dict(row._mapping) for row in rows]


def _erase_memberships(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    """Delete the person's memberships. Their groups stay, but a group's traits may hold the
    scrubbing token of the person's e-mail or phone (an account's owner): those tokens lose
    their hash, as in their events; other people's stay."""
    ids = list(customer_ids)
    theirs = frozenset(
        f"[{kind}:{index.hex()[:16].translate(TOKEN_LETTERS)}]"
        for kind, index in ctx.session.execute(
            select(CustomerIdentity.kind, CustomerIdentity.value_index).where(
                CustomerIdentity.customer_id.in_(ids), CustomerIdentity.kind.in_(_SCRUBBED)
            )
        )
    )
    their_groups = select(GroupMember.group_id).where(GroupMember.customer_id.in_(ids))
    for group in ctx.session.scalars(select(Group).where(Group.id.in_(their_groups))):
        cleaned = _without_tokens(group.traits, theirs)
        if cleaned != group.traits:
            group.traits = cleaned
    return delete_rows(ctx.session, GroupMember, customer_ids=ids)


EVENTS = register_holder(
    Holder(
        name="ingest.events",
        domain="ingest",
        description="Tracking events (page views, clicks, purchases), with identifiers "
        "scrubbed from their properties; an erased person's keep only coarse properties.",
        tables=("events",),
        categories=("behaviour", "online identifiers", "coarse network (truncated IP)"),
        purposes=("analytics", "personalisation", "profiling"),
        retention="purged once the event retention period has passed since they were received",
        sources=("website and app tracking", "server-side tracking calls", "imports"),
        recipients=("analysts (pseudonymised)", "marketers (aggregates and segments)"),
        export=_export_events,
        erase=_erase_events,
        purge=_purge_events,
        activity=_event_activity,
    )
)
ORDERS = register_holder(
    Holder(
        name="ingest.orders",
        domain="ingest",
        description="Orders, their lines and refunds.",
        tables=("orders", "order_items", "order_refunds"),
        categories=("purchases",),
        purposes=("order_fulfilment", "legal_retention", "analytics"),
        retention="kept for the accounting retention period from the order date, then purged",
        sources=("e-commerce tracking events", "imports"),
        recipients=("accounting", "analysts (aggregates)"),
        export=_export_orders,
        erase=_erase_orders,
        purge=_purge_orders,
        activity=_order_activity,
    )
)
GROUP_MEMBERS = register_holder(
    Holder(
        name="ingest.group_members",
        domain="ingest",
        description="Which groups (accounts, companies) a customer was reported in by "
        "`group` calls, and when.",
        tables=("group_members",),
        categories=("professional affiliation",),
        purposes=("analytics", "personalisation", "profiling"),
        retention="kept while the customer's profile is; erased with it",
        sources=("website and app tracking (group calls)", "server-side tracking calls"),
        recipients=("marketers (segments)", "support staff (360° view)"),
        export=_export_memberships,
        erase=_erase_memberships,
    )
)

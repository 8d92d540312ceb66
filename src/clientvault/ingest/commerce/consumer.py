"""The commerce consumer: turns Segment e-commerce events into products, orders and refunds.

Follows Segment's e-commerce spec (``Product Viewed``, ``Product Added``, ``Cart Viewed``,
``Checkout Started``, ``Order Completed``, ``Order Refunded``). Idempotent: products are
upserted by SKU, orders are keyed by their ``order_id``, refunds by the event that carried
them — a replayed batch changes nothing. An event whose commerce fields are unusable is
skipped and counted rather than blocking the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.ingest.commerce.models import Order, OrderItem, OrderRefund, Product
from clientvault.ingest.consumers import Consumer
from clientvault.ingest.models import Event
from clientvault.store.context import Store

logger = logging.getLogger(__name__)

PRODUCT_EVENTS = frozenset(
    {"Product Viewed", "Product Added", "Product Removed", "Product Clicked"}
)
ORDER_COMPLETED = "Order Completed"
ORDER_REFUNDED = "Order Refunded"


class _Unusable(ValueError):
    pass


def handle(session: Session, _store: Store, events: Sequence[Event]) -> None:
    """Apply a batch of e-commerce events to the commerce tables.

    The batch's products are loaded in one query first; each event then works from memory.
    """
    catalogue = _known_products(session, events)
    for event in events:
        try:
            if event.name in PRODUCT_EVENTS:
                _product(session, event.properties, catalogue)
            elif event.name == ORDER_COMPLETED:
                _order_completed(session, event, catalogue)
            elif event.name == ORDER_REFUNDED:
                _order_refunded(session, event)
        except _Unusable as exc:
            logger.warning("commerce: skipped event %s: %s", event.id, exc)


def _known_products(session: Session, events: Sequence[Event]) -> dict[str, Product]:
    skus: set[str] = set()
    for event in events:
        lines = event.properties.get("products")
        for line in [event.properties, *(lines if isinstance(lines, list) else [])]:
            if isinstance(line, dict):
                try:
                    skus.add(_sku(line))
                except _Unusable:
                    continue
    wanted = list(skus)
    catalogue: dict[str, Product] = {}
    for start in range(0, len(wanted), 900):
        for product in session.scalars(
            select(Product).where(Product.sku.in_(wanted[start : start + 900]))
        ):
            catalogue[product.sku] = product
    return catalogue


CONSUMER = Consumer(
    name="commerce",
    handle=handle,
    event_names=PRODUCT_EVENTS | {ORDER_COMPLETED, ORDER_REFUNDED},
)


def _money(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _Unusable(f"{field} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise _Unusable(f"{field} must be a non-negative number")
    return amount.quantize(Decimal("0.01"))


def _sku(properties: dict[str, Any]) -> str:
    sku = properties.get("sku") or properties.get("product_id")
    if not isinstance(sku, str | int) or not str(sku).strip():
        raise _Unusable("product has no sku or product_id")
    return str(sku).strip()[:64]


def _product(
    session: Session, properties: dict[str, Any], catalogue: dict[str, Product]
) -> Product:
    sku = _sku(properties)
    product = catalogue.get(sku)
    name = str(properties.get("name") or sku)[:200]
    category = properties.get("category")
    price = _money(properties["price"], "price") if properties.get("price") is not None else None
    if product is None:
        product = Product(
            sku=sku,
            name=name,
            category=str(category)[:100] if category else None,
            price=price,
            currency=str(properties.get("currency") or "EUR")[:3].upper(),
        )
        session.add(product)
        session.flush()
        catalogue[sku] = product
        return product
    product.name = name if properties.get("name") else product.name
    product.category = str(category)[:100] if category else product.category
    product.price = price if price is not None else product.price
    return product


def _order_completed(session: Session, event: Event, catalogue: dict[str, Product]) -> None:
    properties = event.properties
    external_id = properties.get("order_id")
    if not isinstance(external_id, str | int) or not str(external_id).strip():
        raise _Unusable("order has no order_id")
    external_id = str(external_id)[:64]
    if session.scalar(select(Order.id).where(Order.external_id == external_id)) is not None:
        return  # replay or resend: the order exists already
    lines = properties.get("products") or []
    if not isinstance(lines, list):
        raise _Unusable("products must be an array")
    items = []
    for line in lines:
        if not isinstance(line, dict):
            raise _Unusable("each product must be an object")
        product = _product(session, line, catalogue)
        quantity = line.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _Unusable("quantity must be a positive integer")
        unit_price = _money(line.get("price", product.price or 0), "price")
        items.append(OrderItem(product_id=product.id, quantity=quantity, unit_price=unit_price))
    total_value = properties.get("total", properties.get("revenue"))
    total = (
        _money(total_value, "total")
        if total_value is not None
        else sum((i.unit_price * i.quantity for i in items), Decimal("0"))
    )
    order = Order(
        external_id=external_id,
        customer_id=event.customer_id,
        status="completed",
        placed_at=event.occurred_at,
        currency=str(properties.get("currency") or "EUR")[:3].upper(),
        total=total,
        refunded_amount=Decimal("0"),
    )
    session.add(order)
    session.flush()
    for item in items:
        item.order_id = order.id
    session.add_all(items)


def _order_refunded(session: Session, event: Event) -> None:
    properties = event.properties
    external_id = str(properties.get("order_id") or "")[:64]
    order = session.scalar(select(Order).where(Order.external_id == external_id))
    if order is None:
        raise _Unusable("refund for an unknown order")
    if session.scalar(select(OrderRefund.id).where(OrderRefund.event_id == event.id)) is not None:
        return  # this refund was applied already
    returned = properties.get("products") or []
    refunded_value = properties.get("total")
    if refunded_value is None:
        refunded_value = (
            order.total - order.refunded_amount
            if not returned
            else sum(
                (_money(p.get("price", 0), "price") * int(p.get("quantity", 1)) for p in returned),
                Decimal("0"),
            )
        )
    amount = min(_money(refunded_value, "total"), order.total - order.refunded_amount)
    session.add(
        OrderRefund(
            order_id=order.id, event_id=event.id, amount=amount, refunded_at=event.occurred_at
        )
    )
    for line in returned:
        sku = _sku(line)
        item = session.scalar(
            select(OrderItem)
            .join(Product, Product.id == OrderItem.product_id)
            .where(OrderItem.order_id == order.id, Product.sku == sku)
        )
        if item is not None:
            quantity = int(line.get("quantity", item.quantity))
            item.returned_quantity = min(item.quantity, item.returned_quantity + quantity)
    session.flush()
    order.refunded_amount = session.scalar(
        select(func.coalesce(func.sum(OrderRefund.amount), 0)).where(
            OrderRefund.order_id == order.id
        )
    ) or Decimal("0")
    order.status = "refunded" if order.refunded_amount >= order.total else "partially_refunded"

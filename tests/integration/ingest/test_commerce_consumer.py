"""The commerce consumer reads the event log past its cursor and is idempotent on replay."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from clientvault.automation.worker import run_until_idle
from clientvault.ingest.commerce import consumer as commerce
from clientvault.ingest.commerce.models import Order, OrderItem, OrderRefund, Product
from clientvault.ingest.consumers import drain, position, process_batch
from clientvault.ingest.models import ConsumerCursor
from clientvault.ingest.tracking import ingest
from clientvault.store.context import Store


def _send(db: Store, *messages: dict[str, Any]) -> None:
    with db.sessions.begin() as session:
        result = ingest(session, db, source="shop", messages=list(messages), default_region="FR")
    assert not result.rejected, result.rejected


def _track(message_id: str, event: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "buyer-1",
        "event": event,
        "messageId": message_id,
        "properties": properties,
    }


LINES = [
    {"product_id": "SKU-1", "name": "Mug", "price": 12.5, "quantity": 2, "category": "kitchen"},
    {"product_id": "SKU-2", "name": "Tea", "price": 5, "quantity": 1},
]


def _snapshot(db: Store) -> tuple[Any, ...]:
    with db.sessions() as session:
        return (
            sorted(session.execute(select(Product.sku, Product.name, Product.price)).all()),
            sorted(
                session.execute(
                    select(Order.external_id, Order.status, Order.total, Order.refunded_amount)
                ).all()
            ),
            sorted(session.execute(select(OrderItem.quantity, OrderItem.returned_quantity)).all()),
            session.scalar(select(func.count()).select_from(OrderRefund)),
        )


def test_orders_products_and_refunds_are_derived_from_events(db: Store) -> None:
    _send(
        db,
        _track("v1", "Product Viewed", product_id="SKU-3", name="Pot", price=30),
        _track("o1", "Order Completed", order_id="A-1", total=30, currency="eur", products=LINES),
        _track(
            "r1",
            "Order Refunded",
            order_id="A-1",
            products=[{"product_id": "SKU-1", "quantity": 1, "price": 12.5}],
        ),
        _track("x1", "Signed Up"),
    )
    assert drain(db, commerce.CONSUMER) == 4
    products, orders, items, refunds = _snapshot(db)
    assert [p[0] for p in products] == ["SKU-1", "SKU-2", "SKU-3"]
    assert orders == [("A-1", "partially_refunded", Decimal("30.00"), Decimal("12.50"))]
    assert items == [(1, 0), (2, 1)]
    assert refunds == 1
    with db.sessions() as session:
        order = session.scalar(select(Order))
        assert order is not None
        assert order.customer_id is not None
        assert order.currency == "EUR"


def test_replaying_the_log_changes_nothing(db: Store) -> None:
    _send(
        db,
        _track("o1", "Order Completed", order_id="A-1", products=LINES),
        _track("r1", "Order Refunded", order_id="A-1", total=30),
    )
    drain(db, commerce.CONSUMER)
    before = _snapshot(db)
    assert before[1] == [("A-1", "refunded", Decimal("30.00"), Decimal("30.00"))]
    with db.sessions.begin() as session:  # as if the cursor's commit had been lost
        session.execute(update(ConsumerCursor).values(position=0))
    assert drain(db, commerce.CONSUMER) == 2
    assert _snapshot(db) == before


def test_cursor_advances_batch_by_batch_and_resumes(db: Store) -> None:
    _send(
        db,
        *[
            _track(f"o{i}", "Order Completed", order_id=f"A-{i}", products=LINES[:1])
            for i in range(5)
        ],
    )
    assert process_batch(db, commerce.CONSUMER, batch_size=2) == 2
    first = position(db, "commerce")
    assert _snapshot(db)[1]
    assert len(_snapshot(db)[1]) == 2
    assert process_batch(db, commerce.CONSUMER, batch_size=2) == 2
    assert position(db, "commerce") > first
    assert run_until_idle(db, (commerce.CONSUMER,)) == 1
    assert len(_snapshot(db)[1]) == 5
    assert process_batch(db, commerce.CONSUMER) == 0


def test_unusable_events_are_skipped_without_blocking_the_log(db: Store) -> None:
    _send(
        db,
        _track("bad1", "Order Completed", products=LINES),  # no order_id
        _track(
            "bad2", "Order Completed", order_id="B", products=[{"product_id": "S", "price": "abc"}]
        ),
        _track("bad3", "Order Refunded", order_id="nope"),
        _track("ok", "Order Completed", order_id="C", products=LINES),
    )
    assert drain(db, commerce.CONSUMER) == 4
    orders = _snapshot(db)[1]
    assert [o[0] for o in orders] == ["C"]

"""Seeded synthetic installations at scale (bench set-up only): a million customers in minutes.

Rows go straight into the tables with SQLAlchemy Core ``executemany`` (its insert-many-values
batching; ``CHUNK`` rows a statement, one transaction per chunk), skipping the ingestion
pipeline, which is not what these benches measure. Customers have no sealed identifiers, so
no data keys are needed: they are what tracking makes of an anonymous visitor (a profile with
an ``anonymous_id`` identity and maybe a user id), which is all the decision and the
predictions read.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, insert

from clientvault.customers.scores import CustomerScore
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.commerce.models import Order, OrderItem, Product
from clientvault.privacy.models import ConsentRecord
from clientvault.privacy.purposes import ensure_default_purposes
from clientvault.store.context import Store

CHUNK = 20_000
END = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 400


def _write(store: Store, table: Table, rows: Iterator[dict[str, Any]]) -> int:
    written = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            with store.engine.begin() as connection:
                connection.execute(insert(table), batch)
            written += len(batch)
            batch = []
    if batch:
        with store.engine.begin() as connection:
            connection.execute(insert(table), batch)
        written += len(batch)
    return written


def customer_ids(count: int, seed: int) -> list[uuid.UUID]:
    """``count`` seeded random customer ids."""
    rng = random.Random(seed)
    return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(count)]


def add_customers(
    store: Store, ids: Sequence[uuid.UUID], *, anonymous_prefix: str | None = "a-"
) -> None:
    """One profile per id, with the snippet's anonymous id ``<prefix><n>`` as its identity
    (none when ``anonymous_prefix`` is ``None``)."""
    at = END - timedelta(days=DAYS)
    _write(
        store,
        Customer.__table__,  # type: ignore[arg-type]
        (
            {"id": c, "status": "active", "created_at": at, "updated_at": at, "traits": {}}
            for c in ids
        ),
    )
    if anonymous_prefix is None:
        return
    _write(
        store,
        CustomerIdentity.__table__,  # type: ignore[arg-type]
        (
            {
                "customer_id": c,
                "kind": "anonymous_id",
                "value_index": store.index("anonymous_id", f"{anonymous_prefix}{n}"),
                "source": "bench",
                "first_seen_at": at,
                "last_seen_at": at,
            }
            for n, c in enumerate(ids)
        ),
    )


def add_consents(store: Store, ids: Sequence[uuid.UUID], purposes: Sequence[str]) -> None:
    """A ``granted`` decision for each purpose for each of ``ids``."""
    with store.sessions.begin() as session:
        ensure_default_purposes(session)
    at = END - timedelta(days=DAYS)
    _write(
        store,
        ConsentRecord.__table__,  # type: ignore[arg-type]
        (
            {
                "customer_id": c,
                "purpose": p,
                "decision": "granted",
                "recorded_at": at,
                "policy_version": "1",
                "channel": "web",
                "source": "bench",
            }
            for c in ids
            for p in purposes
        ),
    )


def add_labels(store: Store, ids: Sequence[uuid.UUID], kind: str, labels: Sequence[str]) -> None:
    """A label score of ``kind`` for each customer, drawn from ``labels`` (seeded)."""
    rng = random.Random(11)
    _write(
        store,
        CustomerScore.__table__,  # type: ignore[arg-type]
        (
            {
                "customer_id": c,
                "kind": kind,
                "value": None,
                "label": rng.choice(labels),
                "model_version": "bench",
                "computed_at": END,
            }
            for c in ids
        ),
    )


def add_shop(
    store: Store, ids: Sequence[uuid.UUID], *, products: int, seed: int, orders_per_customer: float
) -> tuple[int, int]:
    """A catalogue of ``products`` (Zipf-like popularity) and orders of 1 to 3 items spread
    over ``DAYS`` days: each customer's number of orders is geometric around the mean, at
    least one, and a regular buyer keeps a rhythm (so recency predicts the next order).
    Returns (orders, order items) written."""
    rng = random.Random(seed)
    categories = [f"cat-{n}" for n in range(12)]
    _write(
        store,
        Product.__table__,  # type: ignore[arg-type]
        (
            {
                "id": p + 1,
                "sku": f"sku-{p}",
                "name": f"Product {p}",
                "category": categories[p % 12],
                "price": Decimal(5 + p % 95),
                "currency": "EUR",
            }
            for p in range(products)
        ),
    )
    weights = [1.0 / (p + 1) ** 0.8 for p in range(products)]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    stop = 1.0 / orders_per_customer
    orders: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    n_order = 0

    def plan() -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        nonlocal n_order
        for customer in ids:
            gap = rng.uniform(10, 120)
            at = END - timedelta(days=rng.uniform(0, DAYS))
            while True:
                n_order += 1
                lines = [
                    {"order_id": n_order, "product_id": rng.choices(range(1, products + 1),
                     cum_weights=cumulative)[0], "quantity": 1,
                     "unit_price": Decimal(rng.randrange(5, 100)), "returned_quantity": 0}
                    for _ in range(rng.randint(1, 3))
                ]  # fmt: skip
                order = {"id": n_order, "external_id": f"o{n_order}", "customer_id": customer,
                         "status": "completed", "placed_at": at, "currency": "EUR",
                         "total": sum((x["unit_price"] for x in lines), Decimal(0)),
                         "refunded_amount": Decimal(0)}  # fmt: skip
                yield order, lines
                at -= timedelta(days=gap * rng.uniform(0.7, 1.3))
                if rng.random() < stop or at < END - timedelta(days=DAYS):
                    break

    written_orders = written_items = 0
    for order, lines in plan():
        orders.append(order)
        items.extend(lines)
        if len(orders) >= CHUNK:
            written_orders += _write(store, Order.__table__, iter(orders))  # type: ignore[arg-type]
            written_items += _write(store, OrderItem.__table__, iter(items))  # type: ignore[arg-type]
            orders, items = [], []
    written_orders += _write(store, Order.__table__, iter(orders))  # type: ignore[arg-type]
    written_items += _write(store, OrderItem.__table__, iter(items))  # type: ignore[arg-type]
    return written_orders, written_items

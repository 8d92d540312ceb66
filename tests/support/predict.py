"""Synthetic shop history for the predict tests: customers with a hidden buying rate, their
orders, page views, support tickets and CSAT answers, written straight into the commerce and
event tables (what the commerce consumer would have produced), seeded for repeatability."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.commerce.models import Order, OrderItem, Product
from clientvault.ingest.models import Event
from clientvault.privacy.consent import record_decision
from clientvault.security.accounts import define_role
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.privacy_core import prepare
from support.staff import api_sign_in, create_staff

#: The synthetic history ends here; models are trained as of this moment.
END = datetime(2026, 6, 1, tzinfo=UTC)
CATEGORIES = ("shoes", "coats", "kitchen", "camping")
PASSWORD = "violet-harbour-tangent-quarry-47"


@dataclass(frozen=True)
class Shop:
    """What was generated: customers (with profiling consent unless listed in
    ``without_consent``), product ids by sku, orders per customer."""

    customers: list[uuid.UUID]
    without_consent: list[uuid.UUID]
    products: dict[str, int]


def make_products(store: Store, count: int = 12) -> dict[str, int]:
    """A small catalogue, ``count`` products over four categories."""
    with store.sessions.begin() as session:
        session.execute(
            insert(Product),
            [
                {
                    "sku": f"sku-{n}",
                    "name": f"Product {n}",
                    "category": CATEGORIES[n % len(CATEGORIES)],
                    "price": Decimal(10 + 5 * n),
                    "currency": "EUR",
                }
                for n in range(count)
            ],
        )
        return {sku: pid for pid, sku in session.execute(select(Product.id, Product.sku))}


def make_shop(store: Store, *, customers: int = 240, days: int = 240, seed: int = 7) -> Shop:
    """Customers whose buying rate drifts: some are loyal, some fade out (churn), which is
    visible in their recency, frequency and sessions, hence learnable."""
    prepare(store)
    rng = random.Random(seed)
    products = make_products(store)
    skus = sorted(products)
    with store.sessions.begin() as session:
        ids = create_customers(
            session,
            store,
            profiles=[CustomerCreate(country="FR", city="Lyon") for _ in range(customers)],
            source="test",
            default_region="FR",
        )
    without = ids[:10]
    grant(store, ids[10:], "profiling")
    start = END - timedelta(days=days)
    orders: list[dict[str, object]] = []
    items: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    for n, customer_id in enumerate(ids):
        rate = rng.choice((0.004, 0.01, 0.03, 0.06))  # orders per day
        fades_at = start + timedelta(days=rng.uniform(60, days * 1.6))
        favourite = rng.randrange(len(skus))
        day = start + timedelta(days=rng.uniform(0, 30))
        while day < END:
            live = day < fades_at
            if rng.random() < (rate if live else rate * 0.1):
                order_no = len(orders) + 1  # the order's external id; items refer to it
                sku = skus[(favourite + rng.choice((0, 0, 1, 4))) % len(skus)]
                total = Decimal(rng.randint(20, 200))
                orders.append(
                    {
                        "external_id": f"o-{order_no}",
                        "customer_id": customer_id,
                        "placed_at": day + timedelta(hours=rng.randint(8, 20)),
                        "total": total,
                        "currency": "EUR",
                        "status": "completed",
                        "refunded_amount": Decimal(0),
                    }
                )
                items.append(
                    {
                        "order_id": f"o-{order_no}",
                        "product_id": products[sku],
                        "quantity": 1,
                        "unit_price": total,
                    }
                )
            if rng.random() < (rate * 3 if live else rate * 0.3):
                at = day + timedelta(hours=rng.randint(8, 22))
                for view in range(rng.randint(1, 4)):
                    events.append(_event(customer_id, "page", None, at + timedelta(minutes=view)))
            if rng.random() < 0.003:
                at = day + timedelta(hours=3)
                events.append(_event(customer_id, "track", "Support Ticket Opened", at))
                score = rng.randint(1, 5) if live else rng.randint(1, 2)
                events.append(
                    _event(
                        customer_id,
                        "track",
                        "CSAT Survey Answered",
                        at + timedelta(hours=5),
                        {"score": score, "survey": "csat"},
                    )
                )
            day += timedelta(days=1)
        del n
    with store.sessions.begin() as session:
        session.execute(insert(Order), orders)
        ids_of = {
            external: oid for external, oid in session.execute(select(Order.external_id, Order.id))
        }
        for item in items:
            item["order_id"] = ids_of[str(item["order_id"])]
        for table, rows in ((OrderItem, items), (Event, events)):
            for chunk in range(0, len(rows), 400):
                session.execute(insert(table), rows[chunk : chunk + 400])
    return Shop(ids, without, products)


def grant(store: Store, customers: Sequence[uuid.UUID], purpose: str) -> None:
    """Record the customers' consent to ``purpose``, in one transaction."""
    with store.sessions.begin() as session:
        for customer_id in customers:
            record_decision(
                session,
                customer_id=customer_id,
                purpose=purpose,
                decision="granted",
                policy_version="2026-01",
                channel="web",
            )


def sign_in_staff(
    client: TestClient, store: Store, settings: Settings, *, role: str, permissions: set[str]
) -> dict[str, str]:
    """A new role with these permissions, a staff member holding it signed in on ``client``
    (the console's session cookie); the CSRF header to post with."""
    with store.sessions.begin() as session:
        define_role(
            session,
            name=role,
            permissions=permissions,
            description=f"{role} (test)",
            by=Principal.system("test"),
        )
        create_staff(
            session,
            settings,
            email=f"{role}@example.com",
            role=role,
            password=PASSWORD,
            display_name=role.title(),
        ).user.must_change_password = False
    return api_sign_in(client, f"{role}@example.com", PASSWORD)


def _event(
    customer_id: uuid.UUID,
    kind: str,
    name: str | None,
    at: datetime,
    properties: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": kind,
        "name": name,
        "customer_id": customer_id,
        "occurred_at": at,
        "received_at": at,
        "source": "test",
        "properties": properties or {},
        "context": {},
    }

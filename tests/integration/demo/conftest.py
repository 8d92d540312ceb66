"""Fixtures of the demo generator's tests: a fixed "now", a small run, and a digest of what a
run wrote that can be compared across installations (ids and keys differ, content must not)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clientvault.demo.generator import generate_demo
from clientvault.demo.summary import DemoSummary
from clientvault.identity.models import Customer
from clientvault.identity.profiles import reveal_identifiers
from clientvault.ingest.commerce.models import Order, OrderItem, OrderRefund, Product
from clientvault.ingest.models import Event
from clientvault.privacy.models import ConsentRecord
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.context import Store

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
CUSTOMERS = 150
READER = Principal.system("demo-test", PII_REVEAL)


def _generate(store: Store, seed: int, **options: Any) -> DemoSummary:
    """A small run at a fixed time, planned in this process unless told otherwise."""
    options.setdefault("customers", CUSTOMERS)
    options.setdefault("parallel", False)
    return generate_demo(store, seed=seed, default_region="FR", now=NOW, **options)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _when(value: datetime) -> str:
    assert value.tzinfo is not None
    return value.astimezone(UTC).isoformat()


def _content(store: Store) -> dict[str, Any]:
    """Everything a run wrote, without database ids or key-dependent bytes.

    A customer is named by the number of their first event (message ids are deterministic),
    so that links between customers, events, orders and consents are compared too.
    """
    with store.sessions() as session:
        first_event: dict[Any, int] = {}
        events = []
        for event in session.scalars(select(Event).order_by(Event.id)):
            number = int(event.message_id.rsplit("-", 1)[1])
            if event.customer_id not in first_event or number < first_event[event.customer_id]:
                first_event[event.customer_id] = number
            events.append(event)
        who = first_event.__getitem__
        revealed = reveal_identifiers(
            session, store, principal=READER, customer_ids=list(first_event), reason="test"
        )
        customers = sorted(
            (
                who(c.id),
                c.country,
                c.city,
                c.postal_prefix,
                c.birth_year,
                c.birthday,
                c.gender,
                c.language,
                _json(c.traits),
                _when(c.created_at),
                _json(revealed[c.id].model_dump()),
            )
            for c in session.scalars(select(Customer))
        )
        orders = {o.id: o for o in session.scalars(select(Order))}
        skus = dict(session.execute(select(Product.id, Product.sku)).all())
        lines: dict[int, list[tuple[str, int, str, int]]] = defaultdict(list)
        for item in session.scalars(select(OrderItem)):
            lines[item.order_id].append(
                (skus[item.product_id], item.quantity, str(item.unit_price), item.returned_quantity)
            )
        refunds = {
            r.order_id: (_when(r.refunded_at), str(r.amount))
            for r in session.scalars(select(OrderRefund))
        }
        return {
            "customers": customers,
            "events": [
                (
                    e.message_id,
                    who(e.customer_id),
                    e.type,
                    e.name,
                    _when(e.occurred_at),
                    _json(e.properties),
                    _json(e.context),
                    e.anonymous_index is not None,
                )
                for e in sorted(events, key=lambda e: e.message_id)
            ],
            "orders": sorted(
                (
                    o.external_id,
                    who(o.customer_id),
                    o.status,
                    _when(o.placed_at),
                    str(o.total),
                    str(o.refunded_amount),
                    sorted(lines[o.id]),
                    refunds.get(o.id),
                )
                for o in orders.values()
            ),
            "consents": sorted(
                (
                    who(r.customer_id),
                    r.purpose,
                    r.decision,
                    _when(r.recorded_at),
                    r.policy_version,
                    r.channel,
                    r.proof_ref,
                )
                for r in session.scalars(select(ConsentRecord))
            ),
        }


def _digest(store: Store) -> str:
    return hashlib.sha256(_json(_content(store)).encode()).hexdigest()


@pytest.fixture
def generate() -> Callable[..., DemoSummary]:
    """``generate(store, seed, **options)``: a small run (200 customers) at a fixed time,
    planned in this process unless told otherwise."""
    return _generate


@pytest.fixture
def content() -> Callable[[Store], dict[str, Any]]:
    """``content(store)``: what a run wrote, without ids or key-dependent bytes."""
    return _content


@pytest.fixture
def digest() -> Callable[[Store], str]:
    """``digest(store)``: a short fingerprint of ``content(store)``."""
    return _digest


@pytest.fixture
def demo_now() -> datetime:
    """The "now" the runs end at."""
    return NOW


@pytest.fixture
def reader() -> Principal:
    """A system principal allowed to reveal identifiers (tests compare and scan them)."""
    return READER


@pytest.fixture
def sqlite_files() -> Callable[[Path], list[Path]]:
    """``sqlite_files(data_dir)``: an installation's SQLite files and their journals."""

    def files(data_dir: Path) -> list[Path]:
        return sorted(p for p in data_dir.iterdir() if ".db" in p.name)

    return files

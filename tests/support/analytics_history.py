"""A small, hand-computable history shared by the KPI, funnel and cohort tests.

Customers A, B, C, D and one anonymous visitor X; March 2026 is the range under test.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.segments.models import Segment, SegmentMember
from clientvault.store.context import Store

A, B, C, D = (uuid.UUID(int=n) for n in (1, 2, 3, 4))
X = b"x" * 32


def at(text: str) -> datetime:
    """An instant written ``MM-DD HH:MM`` in 2026, UTC."""
    return datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


EVENTS: list[tuple[Any, str, str, str, dict[str, Any], str]] = [
    # (who, event, when, source, properties, device)
    (A, "Product Viewed", "02-20 10:00", "web", {}, "desktop"),
    (A, "Product Viewed", "03-02 10:00", "web", {}, "desktop"),
    (A, "Product Added", "03-02 10:05", "web", {}, "desktop"),
    (A, "Checkout Started", "03-02 10:10", "web", {}, "desktop"),
    (A, "Order Completed", "03-02 10:20", "web", {}, "desktop"),
    (A, "CSAT Survey Answered", "03-15 08:00", "helpdesk", {"score": 4}, ""),
    (B, "Product Viewed", "03-03 09:00", "web", {}, "mobile"),
    (B, "Support Ticket Opened", "03-03 09:01", "web", {}, "mobile"),
    (B, "Product Added", "03-03 09:02", "web", {}, "mobile"),
    (B, "Checkout Started", "03-12 09:00", "web", {}, "mobile"),
    (C, "Product Added", "03-05 10:00", "web", {}, "mobile"),
    (C, "Product Viewed", "03-05 10:01", "web", {}, "mobile"),
    (C, "Order Completed", "03-20 12:00", "app", {}, "mobile"),
    (D, "CSAT Survey Answered", "03-10 12:00", "helpdesk", {"score": 5}, ""),
    (D, "CSAT Survey Answered", "03-11 12:00", "helpdesk", {"score": 2}, ""),
    (D, "CSAT Survey Answered", "03-12 12:00", "helpdesk", {"score": 7}, ""),  # invalid
    (X, "Product Viewed", "03-06 18:00", "web", {}, "desktop"),
    (X, "Product Added", "03-06 18:01", "web", {}, "desktop"),
]

ORDERS: list[tuple[uuid.UUID, str, str, str]] = [
    # (customer, when, total, refunded)
    (A, "02-10 10:00", "50", "0"),
    (B, "02-15 10:00", "40", "0"),
    (A, "03-02 10:20", "100", "20"),
    (C, "03-20 12:00", "70", "0"),
    (A, "03-25 10:00", "30", "0"),
    (B, "04-05 10:00", "10", "0"),
]


def load(store: Store) -> None:
    """Write the history."""
    with store.sessions.begin() as session:
        session.execute(insert(Customer), [{"id": c} for c in (A, B, C, D)])
        rows = []
        for number, (who, name, when, source, properties, device) in enumerate(EVENTS):
            anonymous = who == X
            rows.append(
                {
                    "message_id": f"m{number}",
                    "type": "track",
                    "name": name,
                    "customer_id": None if anonymous else who,
                    "anonymous_index": X if anonymous else None,
                    "occurred_at": at(when),
                    "received_at": at(when),
                    "source": source,
                    "properties": properties,
                    "context": {"device": {"type": device}} if device else {},
                }
            )
        session.execute(insert(Event), rows)
        session.execute(
            insert(Order),
            [
                {
                    "external_id": f"o{n}",
                    "customer_id": who,
                    "placed_at": at(when),
                    "total": Decimal(total),
                    "refunded_amount": Decimal(refunded),
                    "currency": "EUR",
                }
                for n, (who, when, total, refunded) in enumerate(ORDERS)
            ],
        )


def anonymous_event(
    message_id: str, anonymous: bytes, name: str, when: datetime, properties: dict[str, Any]
) -> dict[str, Any]:
    """An event row of an anonymous visitor, as the event log stores it."""
    return {
        "message_id": message_id,
        "type": "track",
        "name": name,
        "customer_id": None,
        "anonymous_index": anonymous,
        "occurred_at": when,
        "received_at": when,
        "source": "web",
        "properties": properties,
        "context": {},
    }


def exposures(
    key: str, plan: list[tuple[str, int, int]], start: datetime, goal: str = "Signed Up"
) -> list[dict[str, Any]]:
    """``Experiment Viewed`` rows of experiment ``key``: per (variant, people, converted),
    that many anonymous visitors exposed at ``start``, the first ``converted`` of them doing
    ``goal`` five minutes later."""
    rows = []
    for variant, people, converted in plan:
        for person in range(people):
            anon = f"{variant}-{person}".encode().ljust(32, b"_")
            viewed = {"experiment_id": key, "variation_id": variant}
            rows.append(
                anonymous_event(f"{key}-{anon!r}", anon, "Experiment Viewed", start, viewed)
            )
            if person < converted:
                later = start + timedelta(minutes=5)
                rows.append(anonymous_event(f"{key}-{anon!r}-goal", anon, goal, later, {}))
    return rows


#: Five more customers who viewed then added a product on 10 March (the "browsers"): a
#: segment of them is big enough for the minimum group size (5).
BROWSERS = [uuid.UUID(int=n) for n in range(11, 16)]


def load_browsers(store: Store) -> None:
    """The five browsers, their events, and the segment ``browsers`` of exactly them."""
    with store.sessions.begin() as session:
        session.execute(insert(Customer), [{"id": c} for c in BROWSERS])
        rows = []
        for n, who in enumerate(BROWSERS):
            for name, when in (("Product Viewed", "03-10 10:00"), ("Product Added", "03-10 10:05")):
                rows.append({**anonymous_event(f"br{n}{name}", b"", name, at(when), {}),
                             "customer_id": who, "anonymous_index": None})  # fmt: skip
        session.execute(insert(Event), rows)
    make_segment(store, "browsers", "Browsers", BROWSERS)


def make_segment(store: Store, slug: str, name: str, members: list[uuid.UUID]) -> None:
    """A static segment with these members (as a snapshot taken now)."""
    segment_id = uuid.uuid4()
    with store.sessions.begin() as session:
        session.execute(
            insert(Segment).values(
                id=segment_id, slug=slug, name=name, kind="static", created_by="test",
                rules={"all": []}, size=len(members),
            )
        )  # fmt: skip
        session.execute(
            insert(SegmentMember), [{"segment_id": segment_id, "customer_id": c} for c in members]
        )

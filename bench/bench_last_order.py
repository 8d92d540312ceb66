"""The "N days after the last order" date trigger: finding the people whose latest order was on
a given day.

Setup: a fresh installation (SQLite, and PostgreSQL when a URL is configured) with C customers
(default 100,000; 1% merged into another) and O orders (default 1,000,000) spread over two
years, 2% fully refunded, written with Core inserts.
Ours: ``automation.journeys.dates.last_ordered_on`` (the day's orders by ``ix_orders_placed_at``,
"no later order" by index lookups), in days evaluated per minute, median over several days.
Baseline: in the same run, the plain SQL a developer would write first: every order grouped by
person, the latest kept when it falls on the day. Both must find the same people.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))

from sqlalchemy import func, insert, select, update

from _common import backends, fresh_installation, report
from clientvault.automation.journeys.dates import last_ordered_on
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.migrations.schema import load_holders
from clientvault.segments.compiler import live_customers
from clientvault.store.context import Store

ZONE = ZoneInfo("Europe/Paris")
FIRST_DAY = date(2025, 1, 1)
DAYS = 730
CHUNK = 20_000


def _fill(store: Store, customers: int, orders: int, seed: int) -> None:
    draw = random.Random(seed)
    ids = [uuid.uuid4() for _ in range(customers)]
    now = datetime.now(UTC)
    with store.sessions.begin() as session:
        for start in range(0, customers, CHUNK):
            session.execute(
                insert(Customer),
                [
                    {
                        "id": c,
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                        "traits": {},
                    }
                    for c in ids[start : start + CHUNK]
                ],
            )
        for absorbed in draw.sample(ids, customers // 100):
            survivor = draw.choice(ids)
            if survivor != absorbed:
                session.execute(
                    update(Customer)
                    .where(Customer.id == absorbed, Customer.merged_into_id.is_(None))
                    .values(status="merged", merged_into_id=survivor)
                )
    begin = datetime.combine(FIRST_DAY, clock(), tzinfo=ZONE).astimezone(UTC)
    for start in range(0, orders, CHUNK):
        with store.sessions.begin() as session:
            session.execute(
                insert(Order),
                [
                    {
                        "external_id": f"o-{n}",
                        "customer_id": draw.choice(ids),
                        "status": "refunded" if draw.random() < 0.02 else "completed",
                        "placed_at": begin + timedelta(seconds=draw.randrange(DAYS * 86_400)),
                        "currency": "EUR",
                        "total": Decimal("20.00"),
                        "refunded_amount": Decimal("0"),
                    }
                    for n in range(start, min(start + CHUNK, orders))
                ],
            )


def _plain(day: date) -> object:
    """The baseline: group every order by person, keep the latest when it is on ``day``."""
    start = datetime.combine(day, clock(), tzinfo=ZONE).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), clock(), tzinfo=ZONE).astimezone(UTC)
    person = func.coalesce(Customer.merged_into_id, Customer.id)
    latest = (
        select(person.label("person"), func.max(Order.placed_at).label("placed_at"))
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.status != "refunded")
        .group_by(person)
        .subquery()
    )
    return (
        select(Customer.id)
        .join(latest, latest.c.person == Customer.id)
        .where(latest.c.placed_at >= start, latest.c.placed_at < end, live_customers())
        .order_by(Customer.id)
    )


def _timed(store: Store, queries: list[object]) -> tuple[float, list[list[uuid.UUID]]]:
    """The median seconds of one query, and each query's people."""
    times: list[float] = []
    found: list[list[uuid.UUID]] = []
    with store.read_sessions() as session:
        for query in queries:
            started = time.perf_counter()
            found.append(list(session.scalars(query)))  # type: ignore[call-overload]
            times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2], found


def bench(store: Store, customers: int, orders: int, days: int) -> None:
    """Fill, then time both queries on the same days (alternating, so load hits both)."""
    started = time.perf_counter()
    _fill(store, customers, orders, seed=7)
    took = time.perf_counter() - started
    print(f"filled {customers:,} customers, {orders:,} orders in {took:.0f} s")
    # Days near the end of the history, where latest orders are (every third day back).
    sample = [FIRST_DAY + timedelta(days=DAYS - 2 - 3 * k) for k in range(days)]
    ours_s, ours_found = _timed(store, [last_ordered_on(day, ZONE) for day in sample])
    plain_s, plain_found = _timed(store, [_plain(day) for day in sample])
    assert ours_found == plain_found, "the two queries disagree"
    people = sum(len(found) for found in ours_found) / len(sample)
    print(f"{people:,.0f} people a day on average")
    print(f"median seconds per day: ours {ours_s:.3f}, baseline {plain_s:.3f}")
    report("last-order day", ours=60 / ours_s, baseline=60 / plain_s, unit="days/min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args()
    load_holders()
    for backend in backends():
        print(f"-- {backend}")
        with fresh_installation(backend) as store:
            bench(store, args.customers, args.orders, args.days)


if __name__ == "__main__":
    main()

"""Segments: the compiled query of a rule vs a hand-written SQL query of the same meaning, on
the same database in the same run, plus the builder's preview and explain latencies.

Data generated here (seeded): customers (country, birth year), orders over the last year, and
events (``Product Viewed`` / ``Product Added`` / ``Order Completed`` / ``Page Viewed``) over the
last 120 days. Two segments:

- ``fr_be_25_40_buyers``: FR or BE, aged 25-40, at least 2 orders in the last 90 days, spent
  more than 100 (net of refunds);
- ``cart_abandonment``: ``Product Added`` in the last 7 days with no ``Order Completed``
  within 2 hours after it.

Lines ``segment_<name>[<backend>]: ours X s, baseline Y s, ratio Z`` (the medians of three
runs), then ``segment_preview_p95`` / ``segment_explain_p95`` in milliseconds, the times of
the ``regularly`` / ``stopped`` / ``restarted`` conditions and of a computed trait (defined,
one consumer batch, the full recompute), and the effect of the events index the migration adds
(``ix_events_name_customer_time``) on the sequence.

Usage: ``python bench/bench_segments.py [--customers 1000000 --events-per-customer 10]
[--backend sqlite|postgresql]`` (PostgreSQL with ``CLIENTVAULT_BENCH_PG_URL``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, insert, select, text

sys.path.insert(0, str(Path(__file__).parent))

from _common import backends, fresh_installation, median_seconds
from clientvault.demo.segments import SEGMENTS
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.security.principal import Principal
from clientvault.segments import rules as r
from clientvault.segments.compiler import Context, member_ids, members_query
from clientvault.segments.service import explain, preview
from clientvault.segments.traits import define_trait, read_trait, recompute, recompute_all
from clientvault.store.base import table_of
from clientvault.store.context import Store

NOW = datetime.now(UTC).replace(microsecond=0)
BATCH = 5000
REPEATS = 7
NAMES = ["Page Viewed", "Product Viewed", "Product Added", "Order Completed"]
WEIGHTS = [0.4, 0.3, 0.2, 0.1]
COUNTRIES = ["FR", "BE", "DE", "ES", "IT", "NL"]
CATEGORIES = ["shoes", "bags", "hats", "coats", "socks"]
#: The behavioural conditions PostHog's cohorts have, timed alone (no baseline: a hand-written
#: query would be the same grouped subquery).
BEHAVIOURAL = {
    "regularly_3_of_4_weeks": {
        "type": "regularly",
        "event": {"name": "Product Viewed"},
        "unit": "week",
        "total_periods": 4,
        "min_periods": 3,
    },
    "stopped_30d": {
        "type": "stopped",
        "event": {"name": "Order Completed"},
        "active_from": {"days_ago": 90},
        "quiet_from": {"days_ago": 30},
    },
    "restarted": {
        "type": "restarted",
        "event": {"name": "Order Completed"},
        "quiet_from": {"days_ago": 60},
        "quiet_until": {"days_ago": 14},
    },
}
FAVOURITE = {
    "name": "favourite_category_90d",
    "event": {"name": "Product Viewed"},
    "aggregate": "most_frequent",
    "property": "category",
    "window_days": 90,
}

#: The demo's segments of the same names (``clientvault.demo.segments``).
BUYERS = SEGMENTS[0]["rules"]
CART = SEGMENTS[1]["rules"]
LIVE = (
    "c.status NOT IN ('merged', 'erased') AND c.merged_into_id IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM erased_customers e WHERE e.customer_id = c.id)"
)
BUYERS_SQL = f"""
SELECT c.id FROM customers c
WHERE {LIVE} AND c.country IN ('FR', 'BE') AND c.birth_year BETWEEN :oldest AND :youngest
  AND c.id IN (SELECT o.customer_id FROM orders o WHERE o.placed_at >= :since
               GROUP BY o.customer_id HAVING count(*) >= 2)
  AND c.id IN (SELECT o.customer_id FROM orders o
               GROUP BY o.customer_id HAVING sum(o.total - o.refunded_amount) > 100)
"""
CART_SQL = """
SELECT c.id FROM customers c
WHERE {live} AND c.id IN (
  SELECT a.customer_id FROM events a
  WHERE a.name = 'Product Added' AND a.customer_id IS NOT NULL
    AND a.occurred_at >= :since AND a.occurred_at <= :ripe
    AND NOT EXISTS (
      SELECT 1 FROM events b
      WHERE b.customer_id = a.customer_id AND b.name = 'Order Completed'
        AND b.occurred_at >= a.occurred_at AND b.occurred_at <= {later}))
"""
LATER = {
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', a.occurred_at, '+7200 seconds')",
    "postgresql": "a.occurred_at + interval '2 hours'",
}


def _generate(store: Store, customers: int, per_customer: int) -> list[uuid.UUID]:
    rng = random.Random(19)
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(customers)]
    created = NOW - timedelta(days=400)
    with store.engine.begin() as connection:
        for start in range(0, customers, BATCH):
            connection.execute(
                insert(table_of(Customer)),
                [
                    {
                        "id": i,
                        "status": "active",
                        "country": rng.choice(COUNTRIES),
                        "birth_year": rng.randint(1950, 2008),
                        "traits": {},
                        "created_at": created,
                        "updated_at": created,
                    }
                    for i in ids[start : start + BATCH]
                ],
            )
        orders = []
        for n, customer in enumerate(ids):
            for k in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
                orders.append(
                    {
                        "external_id": f"o{n}-{k}",
                        "customer_id": customer,
                        "status": "completed",
                        "placed_at": NOW - timedelta(minutes=rng.randint(1, 365 * 24 * 60)),
                        "currency": "EUR",
                        "total": Decimal(rng.randint(5, 200)),
                        "refunded_amount": Decimal(0),
                    }
                )
            if len(orders) >= BATCH:
                connection.execute(insert(table_of(Order)), orders)
                orders = []
        if orders:
            connection.execute(insert(table_of(Order)), orders)
        events = []
        total = customers * per_customer
        for n in range(total):
            customer = ids[rng.randrange(customers)]
            name = rng.choices(NAMES, WEIGHTS)[0]
            at = NOW - timedelta(seconds=rng.randint(60, 120 * 86400))
            events.append(
                {
                    "message_id": f"e{n}",
                    "type": "track",
                    "name": name,
                    "customer_id": customer,
                    "occurred_at": at,
                    "received_at": at,
                    "properties": {"category": rng.choice(CATEGORIES)}
                    if name == "Product Viewed"
                    else {},
                    "context": {},
                }
            )
            if len(events) >= BATCH:
                connection.execute(insert(table_of(Event)), events)
                events = []
        if events:
            connection.execute(insert(table_of(Event)), events)
    with store.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return ids


def _ours(store: Store, rule: dict[str, object]) -> Callable[[], int]:
    node = r.parse_rules(rule)

    def run() -> int:
        with store.read_sessions() as session:
            ctx = Context(dialect=session.get_bind().dialect.name, now=NOW)
            return len(member_ids(session, members_query(node, ctx)))

    return run


def _baseline(store: Store, sql: str, **params: object) -> Callable[[], int]:
    def run() -> int:
        with store.read_sessions() as session:
            return len(session.execute(text(sql), params).all())

    return run


def _compare(name: str, backend: str, ours: Callable[[], int], base: Callable[[], int]) -> None:
    found, expected = ours(), base()
    if found != expected:
        raise SystemExit(f"{name}: {found} members, the hand-written query finds {expected}")
    # Interleaved, so that a burst of load on the shared machine hits both sides alike.
    ours_times, base_times = [], []
    for _ in range(REPEATS):
        for side, times in ((ours, ours_times), (base, base_times)):
            start = time.perf_counter()
            side()
            times.append(time.perf_counter() - start)
    ours_s, base_s = statistics.median(ours_times), statistics.median(base_times)
    print(
        f"segment_{name}[{backend}]: ours {ours_s:.3f} s, baseline {base_s:.3f} s, "
        f"ratio {ours_s / base_s:.3f} ({found:,} members)",
        flush=True,
    )


def _ignore(_: object) -> None:
    """Drops a result (``median_seconds`` times functions returning nothing)."""


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 2 else samples[0]


def run(backend: str, customers: int, per_customer: int) -> None:
    """Generate the data on one backend and print every figure."""
    with fresh_installation(backend) as store:
        started = time.perf_counter()
        ids = _generate(store, customers, per_customer)
        print(
            f"# {backend}: {customers:,} customers, {customers * per_customer:,} events "
            f"generated in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        year = NOW.year
        _compare(
            "fr_be_25_40_buyers",
            backend,
            _ours(store, BUYERS),
            _baseline(
                store,
                BUYERS_SQL,
                oldest=year - 40,
                youngest=year - 25,
                since=NOW - timedelta(days=90),
            ),
        )
        cart_sql = CART_SQL.format(live=LIVE, later=LATER[backend])
        cart_params = {"since": NOW - timedelta(days=7), "ripe": NOW - timedelta(hours=2)}
        _compare(
            "cart_abandonment",
            backend,
            _ours(store, CART),
            _baseline(store, cart_sql, **cart_params),
        )

        node = r.parse_rules(BUYERS)
        previews, explains = [], []
        rng = random.Random(5)
        with store.read_sessions() as session:
            ctx = Context(dialect=backend, now=NOW)
            for _ in range(5):
                start = time.perf_counter()
                preview(session, node, ctx)
                previews.append(time.perf_counter() - start)
            for _ in range(20):
                start = time.perf_counter()
                explain(session, node, ctx, rng.choice(ids))
                explains.append(time.perf_counter() - start)
        print(
            f"segment_preview_p95[{backend}]: {_p95(previews) * 1000:.0f} ms "
            "(5 previews of the 4-condition rule, one query each)"
        )
        print(f"segment_explain_p95[{backend}]: {_p95(explains) * 1000:.0f} ms (20 customers)")

        for name, rule in BEHAVIOURAL.items():
            seconds = median_seconds(lambda rule=rule: _ignore(_ours(store, rule)()))
            print(f"segment_{name}[{backend}]: {seconds:.3f} s", flush=True)
        # A computed trait: defined (computed for everyone), recomputed for one consumer
        # batch's customers, recomputed whole by the job (nothing changes: rows untouched).
        with store.sessions.begin() as session:
            start = time.perf_counter()
            trait = define_trait(
                session, read_trait(FAVOURITE), principal=Principal.system("bench")
            )
            defined = time.perf_counter() - start
            start = time.perf_counter()
            recompute(session, trait, customers=ids[:500])
            batch = time.perf_counter() - start
        start = time.perf_counter()
        recompute_all(store)
        whole = time.perf_counter() - start
        print(
            f"trait_favourite_category_90d[{backend}]: define {defined:.2f} s, a 500-customer "
            f"batch {batch * 1000:.0f} ms, full recompute {whole:.2f} s",
            flush=True,
        )

        # The index the migration adds, measured: the sequence without it.
        cart = _ours(store, CART)
        with_index = median_seconds(lambda: _ignore(cart()))
        with store.engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_events_name_customer_time"))
        without = median_seconds(lambda: _ignore(cart()))
        print(
            f"segment_index_effect[{backend}]: cart abandonment {with_index:.3f} s with "
            f"ix_events_name_customer_time, {without:.3f} s without",
            flush=True,
        )
        with store.read_sessions() as session:
            assert (
                session.scalar(select(func.count()).select_from(Event)) == customers * per_customer
            )


def main() -> None:
    """Parse options and run on every available backend."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    for backend in [args.backend] if args.backend else backends():
        run(backend, args.customers, args.events_per_customer)


if __name__ == "__main__":
    main()

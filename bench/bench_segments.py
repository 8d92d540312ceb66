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
runs), then ``segment_preview_p95`` / ``segment_explain_p95`` / ``segment_estimate_p95`` (the
builder's quick estimate from a sample) in milliseconds, the times of
the ``regularly`` / ``stopped`` / ``restarted`` conditions and of a computed trait (defined,
one consumer batch, the full recompute), and the effect of the events index the migration adds
(``ix_events_name_customer_time``) on the sequence.

Usage: ``python bench/bench_segments.py [--customers 1000000 --events-per-customer 10]
[--keep DIR] [--backend sqlite|postgresql]``; with ``--keep`` the generated data stays in
``DIR`` (and in ``cv_bench_keep_*`` databases on PostgreSQL) for the next runs of that size. The
time windows are relative to the run's start, so reuse a kept database within hours.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from psycopg import sql as psql
from sqlalchemy import Connection, Table, bindparam, func, insert, select, text
from sqlalchemy.engine import Compiled

sys.path.insert(0, str(Path(__file__).parent))

from _common import backends, fresh_installation, kept_installation, median_seconds
from clientvault.demo.segments import SEGMENTS
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.security.principal import Principal
from clientvault.segments import rules as r
from clientvault.segments.compiler import Context, member_ids, members_query
from clientvault.segments.models import EVENTS_BY_NAME
from clientvault.segments.service import estimate, explain, preview
from clientvault.segments.traits import (
    define_trait,
    delete_trait,
    list_traits,
    read_trait,
    recompute,
    recompute_all,
)
from clientvault.store.base import UtcDateTime, table_of
from clientvault.store.context import Store

NOW = datetime.now(UTC).replace(microsecond=0)
BATCH = 50_000
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
#: The fastest hand-written form found (a lookup of each remaining customer's orders): 4-7x
#: faster at 1M customers than grouping all orders once (``IN (... GROUP BY ... HAVING)``).
BUYERS_SQL = f"""
SELECT c.id FROM customers c
WHERE {LIVE} AND c.country IN ('FR', 'BE') AND c.birth_year BETWEEN :oldest AND :youngest
  AND (SELECT count(*) FROM orders o WHERE o.customer_id = c.id AND o.placed_at >= :since) >= 2
  AND (SELECT sum(o.total - o.refunded_amount) FROM orders o WHERE o.customer_id = c.id) > 100
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


def _customer_ids(customers: int) -> list[uuid.UUID]:
    """The customers' ids, the first draws of the seeded generator (a kept database's too)."""
    rng = random.Random(19)
    return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(customers)]


def _load(connection: Connection, table: Table, columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert ``rows`` (values of ``columns``, in that order) at the driver's speed: each value
    through its column type's own bind processing, then ``executemany`` on SQLite and ``COPY``
    on PostgreSQL, in batches (the ORM's per-row work would take an hour at 10M events)."""
    processors = [table.c[name].type.bind_processor(connection.dialect) for name in columns]
    raw = connection.connection.driver_connection
    cursor = raw.cursor()  # type: ignore[union-attr]
    statement = insert(table).compile(dialect=connection.dialect, column_keys=columns)
    for batch in _batches(rows):
        values = [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in batch
        ]
        if connection.dialect.name == "sqlite":
            cursor.executemany(str(statement), [_positional(statement, v, columns) for v in values])
        else:
            copy = psql.SQL("COPY {} ({}) FROM STDIN").format(
                psql.Identifier(table.name), psql.SQL(", ").join(map(psql.Identifier, columns))
            )
            with cursor.copy(copy) as sink:
                for value in values:
                    sink.write_row(value)


def _batches(rows: Iterable[tuple]) -> Iterable[list[tuple]]:
    """``rows`` in lists of ``BATCH`` (``itertools.batched`` is Python 3.12)."""
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


def _positional(statement: Compiled, values: tuple, columns: list[str]) -> tuple:
    """``values`` (in ``columns``' order) in the order of the compiled statement's ``?``."""
    named = dict(zip(columns, values, strict=True))
    return tuple(named[key] for key in statement.positiontup or ())


def _generate(store: Store, ids: list[uuid.UUID], per_customer: int) -> None:
    """Customers, their orders and their events, seeded (``random.Random(19)``)."""
    rng = random.Random(19)
    for _ in ids:  # the draws of the ids themselves (``_customer_ids``)
        rng.getrandbits(128)
    customers = len(ids)
    created = NOW - timedelta(days=400)
    with store.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA cache_size = -2000000")
        _load(
            connection,
            table_of(Customer),
            ["id", "status", "country", "birth_year", "traits", "created_at", "updated_at"],
            (
                (i, "active", rng.choice(COUNTRIES), rng.randint(1950, 2008), {}, created, created)
                for i in ids
            ),
        )
        _load(
            connection,
            table_of(Order),
            [
                "external_id",
                "customer_id",
                "status",
                "placed_at",
                "currency",
                "total",
                "refunded_amount",
            ],
            (
                (
                    f"o{n}-{k}",
                    customer,
                    "completed",
                    NOW - timedelta(minutes=rng.randint(1, 365 * 24 * 60)),
                    "EUR",
                    Decimal(rng.randint(5, 200)),
                    Decimal(0),
                )
                for n, customer in enumerate(ids)
                for k in range(rng.choice((0, 0, 1, 1, 2, 3, 4)))
            ),
        )
        # The events' indexes built once after the load (a sort) rather than row by row.
        indexes = sorted(table_of(Event).indexes, key=lambda index: str(index.name))
        for index in indexes:
            index.drop(connection)
        _load(
            connection,
            table_of(Event),
            [
                "message_id",
                "type",
                "name",
                "customer_id",
                "occurred_at",
                "received_at",
                "properties",
                "context",
            ],
            (_event(rng, n, ids) for n in range(customers * per_customer)),
        )
        for index in indexes:
            index.create(connection)
    with store.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def _event(rng: random.Random, n: int, ids: list[uuid.UUID]) -> tuple:
    """The ``n``-th event: a random customer, name (``WEIGHTS``) and time in 120 days."""
    name = rng.choices(NAMES, WEIGHTS)[0]
    at = NOW - timedelta(seconds=rng.randint(60, 120 * 86400))
    properties = {"category": rng.choice(CATEGORIES)} if name == "Product Viewed" else {}
    return (f"e{n}", "track", name, ids[rng.randrange(len(ids))], at, at, properties, {})


def _ours(store: Store, rule: dict[str, object]) -> Callable[[], int]:
    node = r.parse_rules(rule)

    def run() -> int:
        with store.read_sessions() as session:
            ctx = Context(dialect=session.get_bind().dialect.name, now=NOW)
            return len(member_ids(session, members_query(node, ctx)))

    return run


def _baseline(store: Store, sql: str, **params: object) -> Callable[[], int]:
    # Times bound as the column stores them (the driver's own text for a datetime differs on
    # SQLite, "+00:00" against ".000000", and moved an event at the very bound across it).
    statement = text(sql).bindparams(
        *(bindparam(k, type_=UtcDateTime()) for k, v in params.items() if isinstance(v, datetime))
    )

    def run() -> int:
        with store.read_sessions() as session:
            return len(session.execute(statement, params).all())

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


def run(backend: str, customers: int, per_customer: int, keep: Path | None) -> None:
    """Generate the data on one backend (or reuse the kept one) and print every figure."""
    if keep is None:
        with fresh_installation(backend) as store:
            _generate_timed(store, backend, customers, per_customer)
            _measure(store, backend, customers, per_customer)
        return
    place = keep / f"{backend}_{customers}_{per_customer}"
    with kept_installation(backend, place) as (store, existed):
        if existed:
            print(f"# {backend}: reusing the data kept in {place}", flush=True)
        else:
            _generate_timed(store, backend, customers, per_customer)
        _measure(store, backend, customers, per_customer)


def _generate_timed(store: Store, backend: str, customers: int, per_customer: int) -> None:
    started = time.perf_counter()
    _generate(store, _customer_ids(customers), per_customer)
    print(
        f"# {backend}: {customers:,} customers, {customers * per_customer:,} events "
        f"generated in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def _measure(store: Store, backend: str, customers: int, per_customer: int) -> None:
    """Every figure, on generated data (left as found: the trait deleted, the index back)."""
    ids = _customer_ids(customers)
    with store.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == customers * per_customer
    print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
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
    _estimates(store, backend)

    for name, rule in BEHAVIOURAL.items():
        seconds = median_seconds(lambda rule=rule: _ignore(_ours(store, rule)()))
        print(f"segment_{name}[{backend}]: {seconds:.3f} s", flush=True)
    # A computed trait: defined (computed for everyone), recomputed for one consumer
    # batch's customers, recomputed whole by the job (nothing changes: rows untouched).
    # A computed trait: defined (computed for everyone), recomputed for one consumer
    # batch's customers, recomputed whole by the job (nothing changes: rows untouched).
    with store.sessions.begin() as session:  # (left by an interrupted run on kept data)
        if FAVOURITE["name"] in {t.name for t in list_traits(session)}:
            delete_trait(session, FAVOURITE["name"])
    with store.sessions.begin() as session:
        start = time.perf_counter()
        trait = define_trait(session, read_trait(FAVOURITE), principal=Principal.system("bench"))
        defined = time.perf_counter() - start
        start = time.perf_counter()
        recompute(session, trait, customers=ids[:500])
        batch = time.perf_counter() - start
    start = time.perf_counter()
    recompute_all(store)
    whole = time.perf_counter() - start
    with store.sessions.begin() as session:
        delete_trait(session, FAVOURITE["name"])
    print(
        f"trait_favourite_category_90d[{backend}]: define {defined:.2f} s, a 500-customer "
        f"batch {batch * 1000:.0f} ms, full recompute {whole:.2f} s",
        flush=True,
    )

    # The index the migration adds, measured: the sequence without it (then put back).
    cart = _ours(store, CART)
    with store.engine.begin() as connection:  # (dropped by an interrupted run on kept data)
        EVENTS_BY_NAME.create(connection, checkfirst=True)
    with_index = median_seconds(lambda: _ignore(cart()))
    with store.engine.begin() as connection:
        EVENTS_BY_NAME.drop(connection)
    without = median_seconds(lambda: _ignore(cart()))
    with store.engine.begin() as connection:
        EVENTS_BY_NAME.create(connection)
    print(
        f"segment_index_effect[{backend}]: cart abandonment {with_index:.3f} s with "
        f"ix_events_name_customer_time, {without:.3f} s without",
        flush=True,
    )


def _estimates(store: Store, backend: str) -> None:
    """The builder's quick estimate of both rules (a sample of the profiles): its p95 once
    warm, the first one's time, and its size against the exact one and its 95 % interval."""
    ctx = Context(dialect=backend, now=NOW)
    for name, rule in (("fr_be_25_40_buyers", BUYERS), ("cart_abandonment", CART)):
        node = r.parse_rules(rule)
        with store.read_sessions() as session:
            exact = preview(session, node, ctx).size
            start = time.perf_counter()
            estimate(session, node, ctx)  # the first in a process also imports scipy
            first = time.perf_counter() - start
            times, found = [], None
            for _ in range(7):
                start = time.perf_counter()
                found = estimate(session, node, ctx)
                times.append(time.perf_counter() - start)
        assert found is not None
        if found.interval is None:
            how = "too few profiles to sample: counted exactly"
        else:
            low, high = found.interval
            how = (
                f"7 estimates from {found.sample:,} profiles, after a first one of "
                f"{first * 1000:.0f} ms; {found.size:,} in [{low:,}, {high:,}] against "
                f"{exact:,} exactly"
            )
        print(
            f"segment_estimate_p95[{backend}, {name}]: {_p95(times) * 1000:.0f} ms ({how})",
            flush=True,
        )


def main() -> None:
    """Parse options and run on every available backend."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the generated data under this directory and reuse it in later runs "
        "(generated once per backend and size)",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], help="only this backend")
    args = parser.parse_args()
    for backend in backends():
        if args.backend in (None, backend):
            run(backend, args.customers, args.events_per_customer, args.keep)


if __name__ == "__main__":
    main()

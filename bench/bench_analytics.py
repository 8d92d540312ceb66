"""The analytics dashboard's queries vs hand-written SQL of the same meaning, and the CLV fit.

Setup: ``--customers`` customers (default 100,000) with ``--events-per-customer`` events
each at most (default 10: the funnel's four steps and page views, up to two weeks apart from
a start anywhere in the 12 months; those past the year's end are not kept: the count stored
is printed) and about 0.4 orders each, bulk-inserted into a fresh installation (SQLite;
PostgreSQL too when a URL is configured). ``--customers 1000000`` gives the issue's 1M
customers / 10M events (somewhat fewer kept).

Ours: ``kpis.compute`` (the dashboard's KPI set), ``funnels.compute`` (a 4-step ordered
funnel, 7-day window, over the last 30 days) and ``cohorts.compute`` (a 12-month cohort
matrix by order). Baseline: one hand-written SQL statement per result, of the same meaning,
in the same run (the funnel's: self-joins from every view of the range; a second line compares
with the same joins from each person's first view only, a weaker meaning; the cohort matrix's:
active customers and net revenue per cohort and month, as the dashboard shows both). CLV:
``clv.fit_bgnbd`` + ``clv.fit_gamma_gamma`` on ``--clv-customers`` (default 100,000)
customers simulated from a BG/NBD process with known parameters; printed with the recovered
parameters (time only, no baseline). Each query is timed as the median of five runs (the
machines are shared).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
from sqlalchemy import text

from _common import backends, fresh_installation, median_seconds, report
from clientvault.analytics import clv, cohorts, funnels, kpis
from clientvault.store.context import Store

END = datetime(2026, 1, 1, tzinfo=UTC)
START = END - timedelta(days=365)
STEPS = list(funnels.DEFAULT_STEPS)
UTC_ZONE = ZoneInfo("UTC")


#: A seeded pseudo-random integer in [0, 2^31 - 1) from an integer SQL expression ``x``
#: (two rounds of squaring and an affine map modulo the Mersenne prime 2^31 - 1): the same
#: values on SQLite and PostgreSQL, so both hold the same data.
_PRIME = 2147483647


def _hash(x: str) -> str:
    once = f"((({x}) % {_PRIME}) * (({x}) % {_PRIME}) % {_PRIME} * 48271 + :seed) % {_PRIME}"
    return f"(({once}) * ({once}) % {_PRIME} * 69621 + 11) % {_PRIME}"


def _populate_sql(dialect: str) -> tuple[str, str, str]:
    """The statements generating customers ``:lo`` to ``:hi`` (ids ``UUID(int=n << 64 |
    hash)``), their events (``:per`` each at most: the funnel's steps on every fifth with
    probability 1, 0.6, 0.36, 0.216 — else a page view — up to two weeks apart from a start
    anywhere in the year, those from ``:end`` on not kept), and an order per ``Order
    Completed`` event from id ``:after`` on, as the Python generator had them."""
    if dialect == "sqlite":
        series = (
            "WITH RECURSIVE n(c) AS (SELECT :lo UNION ALL SELECT c + 1 FROM n WHERE c < :hi), "
            "k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < :per - 1)"
        )
        people = "n"
        steps = "n, k"
        uuid = "printf('%016x%016x', c, {h})"
        moment = "strftime('%Y-%m-%d %H:%M:%S', {s}, 'unixepoch') || '.000000'"
        prefix = series + ", "
    else:
        people = "generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS n(c)"
        steps = f"{people}, generate_series(0, :per - 1) AS k(k)"
        uuid = "CAST(lpad(to_hex(c), 16, '0') || lpad(to_hex({h}), 16, '0') AS uuid)"
        moment = "to_timestamp({s})"
        prefix = "WITH "
    customer_id = uuid.format(h=_hash("c * 16 + 15"))
    customers = (
        (series + " " if dialect == "sqlite" else "")
        + "INSERT INTO customers (id, status, created_at, updated_at, traits) "
        f"SELECT {customer_id}, 'active', {moment.format(s=':begin')}, "
        f"{moment.format(s=':begin')}, '{{}}' FROM {people} ORDER BY c"
    )
    gap = f"60 + {_hash('c * 16 + k + 100000000')} % 1199940"
    thresholds = [_PRIME, _PRIME * 0.6, _PRIME * 0.36, _PRIME * 0.216]
    name = (
        "CASE "
        + " ".join(
            f"WHEN k % 5 = {d} AND u < {int(t)} THEN '{step}'"
            for d, (t, step) in enumerate(zip(thresholds, STEPS, strict=True))
        )
        + " ELSE 'Page Viewed' END"
    )
    events = (
        prefix + f"g AS (SELECT c, k, {_hash('c * 16 + k + 200000000')} AS u, "
        f":begin + {_hash('c * 16 + 14')} % 31536000 + sum({gap}) OVER (PARTITION BY c "
        f"ORDER BY k) AS s FROM {steps}) "
        "INSERT INTO events (message_id, type, name, customer_id, occurred_at, received_at, "
        "source, properties, context) "
        f"SELECT 'b' || c || '-' || k, 'track', {name}, {customer_id}, "
        f"{moment.format(s='s')}, {moment.format(s='s')}, 'web', '{{}}', '{{}}' "
        "FROM g WHERE s < :end ORDER BY c, k"
    )
    orders = (
        "INSERT INTO orders (external_id, customer_id, status, placed_at, currency, total, "
        "refunded_amount) SELECT 'o' || id, customer_id, 'completed', occurred_at, 'EUR', "
        f"10 + {_hash('id')} % 290, 0 FROM events WHERE name = 'Order Completed' AND id > :after"
    )
    return customers, events, orders


_INDEXES = {
    # The secondary indexes of the generated tables, as the database holds their definitions
    # (those backing a primary key or a UNIQUE constraint are not listed, and stay).
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
    "AND tbl_name IN ('customers', 'events', 'orders')",
    "postgresql": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
    "current_schema() AND tablename IN ('customers', 'events', 'orders') AND indexname NOT IN "
    "(SELECT conname FROM pg_constraint)",
}


def _populate(store: Store, customers: int, per_customer: int) -> None:
    """Customers, events and orders generated by the database itself (a recursive CTE on
    SQLite, ``generate_series`` on PostgreSQL), seeded, in chunks of 100,000 customers; the
    tables' secondary indexes are dropped first and created again after, as the migrations
    defined them (a bulk load's usual way: building an index once beats updating it per row)."""
    dialect = store.engine.dialect.name
    make_customers, make_events, make_orders = _populate_sql(dialect)
    bounds = {
        "begin": int(START.timestamp()),
        "end": int(END.timestamp()),
        "per": per_customer,
        "seed": 7,
    }
    with store.engine.begin() as connection:
        indexes = connection.execute(text(_INDEXES[dialect])).all()
        for name, _ in indexes:
            connection.execute(text(f'DROP INDEX "{name}"'))
    for lo in range(1, customers + 1, 100_000):
        hi = min(lo + 99_999, customers)
        with store.engine.begin() as connection:
            after = connection.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar()
            connection.execute(text(make_customers), {**bounds, "lo": lo, "hi": hi})
            connection.execute(text(make_events), {**bounds, "lo": lo, "hi": hi})
            connection.execute(text(make_orders), {"seed": 7, "after": after})
    with store.engine.begin() as connection:
        for _, definition in indexes:
            connection.execute(text(definition))
        if dialect == "postgresql":  # what autovacuum would do
            connection.execute(text("ANALYZE"))


def _sql(store: Store, statement: str, **params: object) -> None:
    with store.read_sessions() as session:
        session.execute(text(statement), params).all()


_KPI_SQL = """
SELECT count(DISTINCT customer_id) + count(DISTINCT CASE WHEN customer_id IS NULL
         THEN anonymous_index END),
       count(DISTINCT CASE WHEN name = 'Order Completed' THEN customer_id END)
FROM events WHERE occurred_at >= :lo AND occurred_at < :hi;
"""
_ORDERS_SQL = """
SELECT count(*), sum(total - refunded_amount), count(CASE WHEN refunded_amount > 0 THEN 1 END)
FROM orders WHERE placed_at >= :lo AND placed_at < :hi
"""
_BUYERS_SQL = """
SELECT count(*), count(CASE WHEN n >= 2 THEN 1 END) FROM (
  SELECT customer_id, count(*) AS n FROM orders
  WHERE placed_at >= :lo AND placed_at < :hi AND customer_id IS NOT NULL
  GROUP BY customer_id) AS buyers
"""


def _funnel_sql(dialect: str, *, every_start: bool) -> str:
    """A 4-step ordered funnel by self-joins: each step the earliest next one within 7 days.
    ``every_start``: from every view of the range, a person counting at the furthest step any
    attempt reaches (the meaning of ``funnels.compute``); else from each person's first view
    only (the weaker query a hurried analyst writes)."""
    within = (
        "julianday(b.occurred_at) <= julianday(a.t0) + 7"
        if dialect == "sqlite"
        else "b.occurred_at <= a.t0 + interval '7 days'"
    )
    steps = [
        f"s{k} AS (SELECT a.customer_id, min(b.occurred_at) AS t, a.t0 FROM s{k - 1} a "
        f"JOIN events b ON b.customer_id = a.customer_id AND b.name = :step{k} "
        f"AND b.occurred_at > a.t AND {within} GROUP BY a.customer_id, a.t0)"
        for k in range(1, len(STEPS))
    ]
    first = (
        "SELECT customer_id, occurred_at AS t, occurred_at AS t0"
        if every_start
        else "SELECT customer_id, min(occurred_at) AS t, min(occurred_at) AS t0"
    )
    counted = "count(DISTINCT customer_id)" if every_start else "count(*)"
    return (
        f"WITH s0 AS ({first} "
        "FROM events WHERE name = :step0 AND occurred_at >= :lo AND occurred_at < :hi "
        "AND customer_id IS NOT NULL"
        + ("" if every_start else " GROUP BY customer_id")
        + "), "
        + ", ".join(steps)
        + " SELECT "
        + ", ".join(f"(SELECT {counted} FROM s{k})" for k in range(len(STEPS)))
    )


def _cohort_sql(dialect: str) -> str:
    """The cohort matrix: each cohort's active customers and net revenue per month."""
    month = (
        "strftime('%Y-%m', {c})"
        if dialect == "sqlite"
        else "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM')"
    )
    return (
        f"WITH first AS (SELECT customer_id, {month.format(c='min(placed_at)')} AS cohort "
        "FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id "
        "HAVING min(placed_at) >= :lo), "
        f"active AS (SELECT customer_id, {month.format(c='placed_at')} AS period, "
        "sum(total - refunded_amount) AS net FROM orders "
        "WHERE customer_id IS NOT NULL AND placed_at >= :lo AND placed_at < :hi "
        f"GROUP BY customer_id, {month.format(c='placed_at')}) "
        "SELECT f.cohort, a.period, count(*), sum(a.net) FROM first f JOIN active a "
        "ON a.customer_id = f.customer_id GROUP BY f.cohort, a.period"
    )


def _bench_queries(store: Store, dialect: str) -> None:
    month = kpis.Filters(END - timedelta(days=30), END)
    params = {"lo": month.start, "hi": month.end}

    def ours_kpis() -> None:
        with store.read_sessions() as session:
            kpis.compute(session, month)

    def sql_kpis() -> None:
        previous = {"lo": month.start - (month.end - month.start), "hi": month.start}
        _sql(store, _KPI_SQL, **params)
        _sql(store, _ORDERS_SQL, **params)
        _sql(store, _BUYERS_SQL, **params)
        _sql(store, _BUYERS_SQL, **previous)
        _sql(store, "SELECT count(*) FROM events WHERE name = 'CSAT Survey Answered' "
                    "AND occurred_at >= :lo AND occurred_at < :hi", **params)  # fmt: skip

    spec = funnels.FunnelSpec()
    steps = {f"step{k}": s for k, s in enumerate(STEPS)}

    def ours_funnel() -> None:
        with store.read_sessions() as session:
            funnels.compute(session, spec, month)

    def sql_funnel() -> None:
        _sql(store, _funnel_sql(dialect, every_start=True), **params, **steps)

    def sql_funnel_first_view() -> None:
        _sql(store, _funnel_sql(dialect, every_start=False), **params, **steps)

    def ours_cohorts() -> None:
        with store.read_sessions() as session:
            cohorts.compute(session, cohorts.CohortSpec(), START, END, UTC_ZONE)

    def sql_cohorts() -> None:
        _sql(store, _cohort_sql(dialect), lo=START, hi=END)

    for name, ours, baseline in (
        ("KPI set (30 days)", ours_kpis, sql_kpis),
        ("4-step funnel (30 days)", ours_funnel, sql_funnel),
        ("4-step funnel (30 days) vs first-view-only SQL", ours_funnel, sql_funnel_first_view),
        ("12-month cohort matrix", ours_cohorts, sql_cohorts),
    ):
        report(f"{dialect} {name}", ours=median_seconds(ours, repeats=5) * 1000,
               baseline=median_seconds(baseline, repeats=5) * 1000, unit="ms")  # fmt: skip


def _simulate(customers: int) -> clv.RfmSummary:
    """RFM data from a BG/NBD process (r=0.25, alpha=4, a=0.8, b=2.5) over 39 weeks, and
    mean repeat spends from Gamma-Gamma (p=6, q=3.7, gamma=15)."""
    rng = np.random.default_rng(3)
    rate = rng.gamma(0.25, 1 / 4.0, customers)
    drop = rng.beta(0.8, 2.5, customers)
    horizon = 39.0
    frequency = np.zeros(customers)
    recency = np.zeros(customers)
    for i in range(customers):
        t = 0.0
        while True:
            t += rng.exponential(1 / rate[i]) if rate[i] > 0 else horizon + 1
            if t > horizon:
                break
            frequency[i] += 1
            recency[i] = t
            if rng.random() < drop[i]:
                break
    nu = rng.gamma(3.7, 1 / 15.0, customers)  # each customer's spend rate
    shape = np.maximum(frequency, 1) * 6.0
    spend = np.where(frequency > 0, rng.gamma(shape, 1 / (nu * np.maximum(frequency, 1))), 0)
    return clv.RfmSummary(frequency, recency, np.full(customers, horizon), spend)


def main() -> None:
    """Populate, then compare; fit CLV on simulated customers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--clv-customers", type=int, default=100_000)
    args = parser.parse_args()
    summary = _simulate(args.clv_customers)
    start = time.perf_counter()
    model = clv.fit_bgnbd(summary)
    spend = clv.fit_gamma_gamma(summary)
    took = time.perf_counter() - start
    print(
        f"CLV fit on {args.clv_customers:,} customers: {took:.1f} s (true r=0.25 alpha=4 a=0.8 "
        f"b=2.5 p=6 q=3.7 gamma=15; fitted BG/NBD r={model.r:.3f} "
        f"alpha={model.alpha:.2f} a={model.a:.2f} b={model.b:.2f}; Gamma-Gamma p={spend.p:.2f} "
        f"q={spend.q:.2f} gamma={spend.gamma:.2f})",
        flush=True,
    )
    for backend in backends():
        with fresh_installation(backend, sqlite_synchronous="NORMAL") as store:
            began = time.perf_counter()
            _populate(store, args.customers, args.events_per_customer)
            with store.read_sessions() as session:
                stored = session.execute(text("SELECT count(*) FROM events")).scalar_one()
            print(f"{backend}: {args.customers:,} customers, {stored:,} events in "
                  f"{time.perf_counter() - began:.0f} s", flush=True)  # fmt: skip
            _bench_queries(store, store.engine.dialect.name)


if __name__ == "__main__":
    main()

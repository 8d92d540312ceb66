"""Generating demo data vs a raw ``executemany`` of the same customer and event rows.

Ours: ``generate_demo`` for N customers (default 100,000) into a fresh SQLite installation:
people and behaviour planned and profiles validated (in a second process when there is a
second core), profiles sealed and blind-indexed through ``create_prepared_customers``,
events, orders, refunds, consents and identifiers written, one transaction per 10,000
customers (handed over in batches of 2,000). Both processes' CPU seconds are reported.
Baseline: the very rows ours wrote to ``customers`` and ``events``, read back beforehand,
inserted into another fresh installation of the same kind with the driver's
``executemany`` (2,000 customers or 25,000 events per transaction); only the inserts and
commits are timed. Both sides are measured in this run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import fresh_installation
from clientvault.demo.generator import generate_demo
from clientvault.store.context import Store

CUSTOMER_CHUNK = 2_000
EVENT_CHUNK = 25_000


def _children_cpu() -> float:
    """CPU seconds used by this process's finished children (the planning process)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _raw_rows(store: Store, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    connection = store.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT * FROM {table} ORDER BY rowid")
        columns = [description[0] for description in cursor.description]
        return columns, [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def _insert(
    store: Store, table: str, columns: list[str], rows: list[tuple[Any, ...]], chunk: int
) -> float:
    """Seconds spent inserting ``rows`` with ``executemany``, ``chunk`` rows per transaction."""
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    connection = store.engine.raw_connection()  # the engine's pragmas: WAL, FULL, FKs
    try:
        cursor = connection.cursor()
        spent = 0.0
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            began = time.perf_counter()
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(sql, part)
            cursor.execute("COMMIT")
            spent += time.perf_counter() - began
        return spent
    finally:
        connection.close()


def run(customers: int, seed: int) -> None:
    """Measure both sides and print the result line."""
    with fresh_installation("sqlite", sqlite_synchronous="NORMAL") as store:
        began, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
        summary = generate_demo(store, customers=customers, seed=seed, default_region="FR")
        ours = time.perf_counter() - began
        ours_cpu = time.process_time() - cpu
        planner_cpu = _children_cpu() - children
        customer_columns, customer_rows = _raw_rows(store, "customers")
        event_columns, event_rows = _raw_rows(store, "events")
    with fresh_installation("sqlite", sqlite_synchronous="NORMAL") as target:
        baseline = _insert(target, "customers", customer_columns, customer_rows, CUSTOMER_CHUNK)
        baseline += _insert(target, "events", event_columns, event_rows, EVENT_CHUNK)
    print(
        f"demo_generate: ours {ours:.1f}s for {customers} customers, "
        f"baseline {baseline:.1f}s, ratio {ours / baseline:.2f}",
        flush=True,
    )
    print(
        f"  {summary.events:,} events ({summary.events / customers:.1f} per customer), "
        f"{summary.orders:,} orders, {summary.consent_grants + summary.consent_withdrawals:,} "
        f"consent records, {len(summary.duplicates):,} planted duplicates; "
        f"writer process CPU {ours_cpu:.1f}s, planner process CPU {planner_cpu:.1f}s",
        flush=True,
    )


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    run(args.customers, args.seed)


if __name__ == "__main__":
    main()

"""Erasing one customer at scale vs a raw DELETE of one customer's rows.

Setup: ``generate_demo`` for N customers (default 100,000; about 10 events, orders, consent
records and identifiers each) in a fresh installation, SQLite and, when a PostgreSQL URL is
configured, PostgreSQL.
Ours: ``erase_customer`` — data key destroyed (crypto-shredding), every registered holder
erased (events anonymised, the ``retention.erasure_mode`` default, or deleted), tombstones,
signed certificate, audit entry — then commit and, on SQLite, the WAL checkpoint and truncate
that follow an erasure. Median over several customers who have events.
With ``--copies K`` (SQLite) the generated base is cloned to K times its size first
(``_replicate.py``): 100,000 generated x 10 gives the 1M-customer figure in minutes.
Baseline: in the same installation, one transaction of plain Core ``DELETE`` statements of
another customer's events, orders, consents, identifiers and profile (what a naive "delete
the customer" does: no key destruction, tombstones, certificate, audit or WAL scrub).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sqlalchemy import delete, func, select

from _common import backends, fresh_installation
from _replicate import replicate
from clientvault.demo.generator import generate_demo
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.migrations.schema import load_holders
from clientvault.privacy.erasure import erase_customer
from clientvault.privacy.holders.registry import ErasureMode
from clientvault.privacy.models import ConsentRecord
from clientvault.security.principal import Principal
from clientvault.store.context import Store

DPO = Principal.system("bench", "privacy:manage")
RUNS = 5


def _customers_with_events(store: Store, count: int) -> Iterator[uuid.UUID]:
    with store.read_sessions() as session:
        found = session.scalars(
            select(Event.customer_id)
            .where(Event.customer_id.is_not(None))
            .group_by(Event.customer_id)
            .having(func.count() >= 5)
            .limit(count)
        ).all()
    yield from (customer_id for customer_id in found if customer_id is not None)


def _ours(store: Store, mode: ErasureMode) -> Callable[[uuid.UUID], None]:
    def run(customer_id: uuid.UUID) -> None:
        with store.sessions.begin() as session:
            erase_customer(
                session, store, customer_id=customer_id, principal=DPO, reason="bench", mode=mode
            )

    return run


def _baseline(store: Store) -> Callable[[uuid.UUID], None]:
    def run(customer_id: uuid.UUID) -> None:
        with store.sessions.begin() as session:
            session.execute(delete(Event).where(Event.customer_id == customer_id))
            session.execute(delete(Order).where(Order.customer_id == customer_id))
            session.execute(delete(ConsentRecord).where(ConsentRecord.customer_id == customer_id))
            session.execute(
                delete(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
            )
            session.execute(delete(Customer).where(Customer.id == customer_id))

    return run


def _median(run: Callable[[uuid.UUID], None], customers: Iterator[uuid.UUID]) -> float:
    times = []
    for _ in range(RUNS):
        customer_id = next(customers)
        began = time.perf_counter()
        run(customer_id)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def run(backend: str, customers: int, seed: int, copies: int) -> None:
    """Generate, measure both sides in the same installation and print the result lines."""
    load_holders()
    with fresh_installation(backend, sqlite_synchronous="FULL") as store:
        began = time.perf_counter()
        generate_demo(store, customers=customers, seed=seed, default_region="FR")
        print(f"  generated {customers:,} customers in {time.perf_counter() - began:.0f} s")
        if copies > 1:
            began = time.perf_counter()
            replicate(store, copies)
            print(f"  cloned them {copies - 1} times in {time.perf_counter() - began:.0f} s")
        with store.read_sessions() as session:
            customers = session.scalar(select(func.count()).select_from(Customer)) or 0
            events = session.scalar(select(func.count()).select_from(Event)) or 0
        print(f"  {customers:,} customers, {events:,} events")
        pool = _customers_with_events(store, 4 * RUNS + 1)
        _ours(store, "anonymise")(next(pool))  # warm-up: creates the signing key
        anonymise = _median(_ours(store, "anonymise"), pool)
        delete_mode = _median(_ours(store, "delete"), pool)
        baseline = _median(_baseline(store), pool)
    for name, ours in (("erasure", anonymise), ("erasure_delete_mode", delete_mode)):
        print(
            f"{name}[{backend}]: ours {ours:.3f} s, baseline {baseline:.3f} s, "
            f"ratio {ours / baseline:.2f} ({customers:,} customers; target < 1 s)",
            flush=True,
        )


def main() -> None:
    """Parse options and run on every configured backend."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="SQLite: grow the generated base this many times by cloning (_replicate.py)",
    )
    args = parser.parse_args()
    for backend in [args.backend] if args.backend else backends():
        run(backend, args.customers, args.seed, args.copies if backend == "sqlite" else 1)


if __name__ == "__main__":
    main()

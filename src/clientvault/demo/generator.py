"""``generate_demo``: fill an installation with a seeded, realistic synthetic customer base."""

from __future__ import annotations

import gc
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import groupby
from pathlib import Path

from sqlalchemy import select

from clientvault.demo.catalogue import build_catalogue
from clientvault.demo.planner import Codecs, DemoPlanner, PlanConfig, PlannedBatch, message_id
from clientvault.demo.summary import DemoSummary, DuplicatePair
from clientvault.demo.truth import write_truth
from clientvault.demo.worker import planned_elsewhere
from clientvault.demo.writer import BatchWriter, ensure_products
from clientvault.errors import Conflict, InvalidInput
from clientvault.ingest.models import Event
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.driver_sql import DialectRef

#: Customers per transaction. Each transaction rewrites most pages of the indexes that
#: random values spread rows over (event times, device ids, blind indexes), so fewer, larger
#: transactions write less; planning still hands them over in smaller batches
#: (``planner.CHUNK_SIZE``) so that writing starts early and keeps up.
BATCH_SIZE = 10_000
#: From this many customers on, planning runs in a second process (when there is a second
#: core): below it, starting the process costs more than it saves.
PARALLEL_FROM = 10_000


def generate_demo(
    store: Store,
    *,
    customers: int,
    seed: int,
    default_region: str = "FR",
    progress: Callable[[int], None] | None = None,
    truth_path: Path | None = None,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    parallel: bool | None = None,
) -> DemoSummary:
    """Generate ``customers`` synthetic customers with two years of behaviour up to ``now``.

    Why: a new installation, a demo, a benchmark or an identity-resolution evaluation needs
    a realistic customer base that contains nobody real. Profiles are validated and
    normalised like any other (``prepare_profile``, in the planning process), then go through
    the real ``create_prepared_customers`` path (data keys, sealed fields, blind indexes) in
    transactions of ``batch_size`` customers; their events, orders, consent decisions and
    identifiers are written in the same transaction, and ``progress(n)`` is called as each
    transaction of ``n`` customers commits.

    About 5 % of the profiles are planted duplicates of earlier ones; their ground truth is
    returned in the summary and, when ``truth_path`` is given, written there as CSV. The same
    seed (and ``now``) gives the same data; ``parallel`` plans rows in a second process
    (default: for large runs on a machine with more than one core). Raises ``Conflict`` if
    this seed's demo data is already in the database.
    """
    if customers < 1:
        raise InvalidInput("the demo needs at least one customer", details={"field": "customers"})
    if batch_size < 1:
        raise InvalidInput("batch size must be positive", details={"field": "batch_size"})
    started = time.perf_counter()
    moment = (now or utcnow()).replace(microsecond=0)
    if moment.tzinfo is None:
        raise InvalidInput("now must be timezone-aware", details={"field": "now"})
    if has_demo_data(store, seed=seed):
        raise Conflict(f"demo data of seed {seed} is in this database already")
    with store.sessions.begin() as session:
        product_ids = ensure_products(session.connection(), build_catalogue())
    config = PlanConfig(
        seed=seed,
        customers=customers,
        batch_size=batch_size,
        now=moment,
        default_region=default_region.upper(),
        dialect=DialectRef.of(store.engine),
        product_ids=product_ids,
    )
    if parallel is None:
        parallel = customers >= PARALLEL_FROM and (os.cpu_count() or 1) > 1
    writer = BatchWriter(store, Codecs.load(config.dialect))
    summary = DemoSummary(seed=seed, products=len(product_ids))
    ids: list[uuid.UUID] = []
    with _gc_paused(), writer.open(), _batches(config, parallel=parallel) as batches:
        # Planned batches arrive as they are made; a transaction's batches are written as
        # they come and committed together.
        for _, transaction in groupby(batches, key=lambda b: b.start // batch_size):
            committed = len(ids)
            with writer.transaction():
                for batch in transaction:
                    written = writer.write(batch)
                    ids.extend(written)
                    _count(summary, batch)
                    summary.duplicates.extend(
                        DuplicatePair(
                            customer_id=written[index - batch.start],
                            duplicate_of_customer_id=ids[original],
                            kind_of_change=kinds,
                        )
                        for index, original, kinds in batch.duplicates
                    )
            if progress is not None:
                progress(len(ids) - committed)
    if truth_path is not None:
        write_truth(truth_path, summary.duplicates)
        summary.truth_path = truth_path
    summary.seconds = time.perf_counter() - started
    return summary


def has_demo_data(store: Store, *, seed: int) -> bool:
    """Whether a demo run with this seed has written to the database already (so that a
    caller can skip generating again instead of meeting ``Conflict``)."""
    with store.sessions() as session:
        query = select(Event.id).where(Event.message_id == message_id(seed, 1))
        return session.scalar(query) is not None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while generating.

    The run allocates millions of short-lived containers while batches of rows stay alive,
    so the collector keeps traversing them for nothing (a third of the writer's time). The
    rows are freed by reference counting; anything cyclic is collected once we are done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _batches(config: PlanConfig, *, parallel: bool) -> Iterator[Iterator[PlannedBatch]]:
    if parallel:
        with planned_elsewhere(config) as batches:
            yield batches
    else:
        yield DemoPlanner(config).batches()


def _count(summary: DemoSummary, batch: PlannedBatch) -> None:
    stats = batch.stats
    summary.customers += len(batch.profiles)
    summary.events += len(batch.events)
    summary.orders += len(batch.orders)
    summary.order_items += len(batch.items)
    summary.refunded_orders += stats["refunds"]
    summary.abandoned_carts += stats["abandoned_carts"]
    summary.support_tickets += stats["support_tickets"]
    summary.consent_grants += stats["consent:granted"]
    summary.consent_withdrawals += stats["consent:withdrawn"]
    for key, count in stats.items():
        if key.startswith("event:"):
            name = key.removeprefix("event:")
            summary.events_by_name[name] = summary.events_by_name.get(name, 0) + count

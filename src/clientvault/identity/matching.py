"""The batch identity-resolution job: probabilistic matching of every active profile (Splink).

1. Active profiles are read and their identifiers decrypted inside the job (audited reveal
   under the ``identity-resolution`` system principal, a few thousand per transaction); they
   stay in this process's memory and an in-memory DuckDB that never spills to disk.
2. A Splink model is trained on them — λ from deterministic rules, u by random sampling, m by
   expectation maximisation — and every pair sharing a blocking key is scored.
3. The model (Splink settings with m/u) is stored as a new version; every profile's keyed
   blocking keys are refreshed for the incremental path; pairs above the automatic threshold
   are merged, pairs between the thresholds queued for review, each with its explanation.

Each step that writes is one transaction, so an interrupted run leaves either the previous or
the new state of that step; running the job again is safe (known pairs are skipped).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from clientvault.errors import InvalidInput
from clientvault.identity.matching_store import (
    PairScore,
    Profiles,
    Thresholds,
    decide,
    keyed_blocking_keys,
    load_profiles,
    ordered,
    replace_blocking_keys,
    save_model,
)
from clientvault.identity.models import Customer
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store

Step = Callable[[str], None]


@dataclass(frozen=True)
class ResolveSummary:
    """What a batch run did."""

    customers: int
    pairs_compared: int
    pairs_above_review: int
    auto_merged: int
    queued: int
    already_known: int
    model_version: int
    seconds: float


#: Profiles decrypted per transaction: each holds the write lock (the audit entries) briefly,
#: so ingestion keeps flowing while the job reads a large base.
LOAD_CHUNK = 5_000


def _load_in_chunks(store: Store) -> Profiles:
    with store.read_sessions() as session:
        ids = list(session.scalars(select(Customer.id).where(Customer.status == "active")))
    records: dict[uuid.UUID, dict[str, str | None]] = {}
    created_at: dict[uuid.UUID, datetime] = {}
    for start in range(0, len(ids), LOAD_CHUNK):
        with store.sessions.begin() as session:
            part = load_profiles(session, store, customer_ids=ids[start : start + LOAD_CHUNK])
        records.update(part.records)
        created_at.update(part.created_at)
    return Profiles(records=records, created_at=created_at)


def resolve(
    store: Store,
    *,
    settings: IdentitySettings | None = None,
    thresholds: Thresholds | None = None,
    seed: int = 42,
    step: Step | None = None,
) -> ResolveSummary:
    """Train a new matching model on all active profiles, then merge and queue the pairs it
    finds. ``settings`` (defaults when None) give the thresholds, unless ``thresholds`` are
    given, and DuckDB's memory cap and threads. ``step(name)`` is called as each stage starts
    (for progress display)."""
    from clientvault.identity.matching_splink import DuckDBLimits, train_and_score

    config = settings or IdentitySettings()
    limits = thresholds or Thresholds.of(config)
    announce = step or (lambda _name: None)
    started = time.perf_counter()
    announce("decrypting profiles")
    profiles = _load_in_chunks(store)
    if len(profiles.records) < 2:
        raise InvalidInput("matching needs at least two active customers")
    announce("training and scoring")
    ids = list(profiles.records)
    scoring = train_and_score(
        [str(i) for i in ids],
        list(profiles.records.values()),
        min_probability=limits.review,
        seed=seed,
        duckdb=DuckDBLimits(memory=config.matching_memory_limit, threads=config.matching_threads),
    )
    pairs = [
        PairScore(
            *ordered(uuid.UUID(p.left), uuid.UUID(p.right)),
            match_probability=p.match_probability,
            match_weight=p.match_weight,
            explanation=p.explanation,
        )
        for p in scoring.pairs
    ]
    announce("storing the model and blocking keys")
    with store.sessions.begin() as session:
        model = save_model(session, settings=scoring.model, thresholds=limits, customers=len(ids))
        version = model.version
        keys = {c: keyed_blocking_keys(store, record) for c, record in profiles.records.items()}
        replace_blocking_keys(session, keys, everyone=True)
    announce("merging and queueing")
    with store.sessions.begin() as session:
        decisions = decide(
            session,
            store,
            pairs=pairs,
            created_at=profiles.created_at,
            thresholds=limits,
            model_version=f"v{version}",
        )
    return ResolveSummary(
        customers=len(ids),
        pairs_compared=scoring.pairs_compared,
        pairs_above_review=len(pairs),
        auto_merged=len(decisions.auto_merged),
        queued=len(decisions.queued),
        already_known=decisions.already_known,
        model_version=version,
        seconds=time.perf_counter() - started,
    )

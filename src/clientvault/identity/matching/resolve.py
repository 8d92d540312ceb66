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

The same data and seed make the same merges, on any installation: profiles are matched in an
order of their content (not of their random ids nor of the database's), the model is trained
deterministically (``matching.splink.train_and_score``) and pairs are decided in a total order
(probability, then the records' order).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from clientvault.errors import InvalidInput
from clientvault.identity.matching.store import (
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

if TYPE_CHECKING:
    from clientvault.identity.matching.splink import ScoredPair

Step = Callable[[str], None]


@dataclass(frozen=True)
class ResolveSummary:
    """What a batch run did. Every pair at or above the review threshold ends in exactly one
    of ``auto_merged`` (this pair merged two persons), ``queued``, ``already_one`` (its
    profiles were one person already, before the run or through this run's earlier merges —
    the third pair of a three-record cluster) or ``already_decided`` (a candidate from an
    earlier run, pending or decided by a reviewer): they add up to ``pairs_above_review``."""

    customers: int
    pairs_compared: int
    pairs_above_review: int
    pairs_above_auto_merge: int
    auto_merged: int
    queued: int
    already_one: int
    already_decided: int
    model_version: int
    seconds: float


#: Profiles decrypted per transaction: each holds the write lock (the audit entries) briefly,
#: so ingestion keeps flowing while the job reads a large base.
LOAD_CHUNK = 5_000


def _load_in_chunks(store: Store) -> Profiles:
    """Every active profile, in ``_content_order``."""
    with store.read_sessions() as session:
        ids = list(
            session.scalars(
                select(Customer.id).where(Customer.status == "active").order_by(Customer.id)
            )
        )
    records: dict[uuid.UUID, dict[str, str | None]] = {}
    created_at: dict[uuid.UUID, datetime] = {}
    for start in range(0, len(ids), LOAD_CHUNK):
        with store.sessions.begin() as session:
            part = load_profiles(session, store, customer_ids=ids[start : start + LOAD_CHUNK])
        records.update(part.records)
        created_at.update(part.created_at)
    ordered_ids = sorted(records, key=lambda c: _content_order(records[c], created_at[c], c))
    return Profiles(
        records={c: records[c] for c in ordered_ids},
        created_at={c: created_at[c] for c in ordered_ids},
    )


#: Record columns holding keyed hashes: their values differ between installations (each has
#: its own index key), only their equalities are the same.
_KEYED = frozenset({"external_id", "contested"})


def _content_order(
    record: Mapping[str, str | None], created_at: datetime, customer: uuid.UUID
) -> tuple[tuple[str, ...], datetime, str]:
    """Where a profile goes in the batch: by its content, then its age, then its id (two
    profiles equal in content and created at the same microsecond). Splink's u sampling picks
    rows by position and pairs tie on probability, so an order of random ids (or of whatever
    the database returns) would make two installations holding the same data decide
    differently."""
    content = tuple(value or "" for name, value in record.items() if name not in _KEYED)
    return content, created_at, str(customer)


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
    from clientvault.identity.matching.splink import DuckDBLimits, train_and_score

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
    position = {str(customer): number for number, customer in enumerate(ids)}

    def decision_order(pair: ScoredPair) -> tuple[float, int, int]:
        ends = sorted((position[pair.left], position[pair.right]))
        return -pair.match_probability, ends[0], ends[1]

    pairs = [
        PairScore(
            *ordered(uuid.UUID(p.left), uuid.UUID(p.right)),
            match_probability=p.match_probability,
            match_weight=p.match_weight,
            explanation=p.explanation,
        )
        for p in sorted(scoring.pairs, key=decision_order)
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
            seniority={customer: number for number, customer in enumerate(ids)},
        )
    return ResolveSummary(
        customers=len(ids),
        pairs_compared=scoring.pairs_compared,
        pairs_above_review=len(pairs),
        pairs_above_auto_merge=sum(p.match_probability >= limits.auto_merge for p in pairs),
        auto_merged=len(decisions.auto_merged),
        queued=len(decisions.queued),
        already_one=decisions.already_one,
        already_decided=decisions.already_known,
        model_version=version,
        seconds=time.perf_counter() - started,
    )

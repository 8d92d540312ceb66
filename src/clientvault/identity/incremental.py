"""Incremental resolution: one new or updated profile matched against the others, at once,
without re-running the batch job.

The profile's blocking keys (``matching.spec.BLOCKING_KEYS``) are keyed-hashed and stored in
``match_blocking_keys``; profiles sharing one of those hashes are its candidates (an indexed
equality look-up, nobody else is decrypted), and so are the profiles it shares an identifier
conflict with (``IdentifierConflict``). The few candidates are scored in Python with the
stored model's parameters: ``matching.spec.level_of`` picks, for each comparison, the first
level the pair satisfies — the same levels, in the same order, with the same similarity
functions as the SQL ``CASE`` Splink evaluated in the batch job — and the match weight is
Splink's: log2 of the prior odds plus log2(m/u) of each chosen level. The same thresholds then
merge or queue the pair.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from clientvault.identity.matching.models import MatchBlockingKey, MatchModel
from clientvault.identity.matching.spec import COMPARISONS, MAX_BLOCK, Comparison, level_of
from clientvault.identity.matching.store import (
    PairScore,
    Thresholds,
    decide,
    keyed_blocking_keys,
    latest_model_header,
    load_profiles,
    matching_reveals,
    ordered,
    replace_blocking_keys,
)
from clientvault.security import audit
from clientvault.store.base import table_of
from clientvault.store.context import Store

#: At most this many profiles sharing a key are looked at for one profile: a cap on big blocks
#: (a common name in a city's postcode), each candidate costing an audited decrypt, reads of
#: its row, its data key and its audit entry's index pages (15-25 pages, mostly not cached
#: against 1M profiles: most of a match's p99) and a scoring. Past the cap, those sharing the
#: most keys are kept and, among those sharing as many, those sharing the rarer ones
#: (``candidates``). Measured against 1M demo profiles: a profile shares a key with 27 others
#: at the median (p99 219); over 60,000 look-ups of a planted duplicate's original (from
#: either side), this ranking cuts the original 90 times at 16, 75 at 20, 40 at 32, where
#: ranking by shared keys alone cut it 131 times at 16 and 74 at 32 (the cap before) — pairs
#: sharing one or two keys. The batch job, which has no cap, catches what a cut missed.
MAX_CANDIDATES = 16
_BLOCKING_KEYS = table_of(MatchBlockingKey)


def _candidates_statement() -> Select[uuid.UUID, int]:
    """The profiles in the blocks of some keys and each block's size, blocks bigger than a
    bound left out; one statement: the sizes first (the key index alone, counted by the
    database, so a huge block is never read row by row), then the profiles of the blocks
    kept, read through the same index. Built once: the per-match cost is its execution."""
    stored = _BLOCKING_KEYS.c
    sizes = (
        select(stored.key, func.count().label("size"))
        .where(stored.key.in_(bindparam("keys", expanding=True)))
        .group_by(stored.key)
        .having(func.count() <= bindparam("max_block"))
        .cte("block_sizes")
    )
    other = _BLOCKING_KEYS.alias("other")
    return (
        select(other.c.customer_id, sizes.c.size)
        .select_from(sizes.join(other, other.c.key == sizes.c.key))
        .where(other.c.customer_id != bindparam("probe", type_=other.c.customer_id.type))
    )


_CANDIDATES = _candidates_statement()


@dataclass(frozen=True)
class ModelParameters:
    """A stored model's weights: the prior's and, per comparison, each level's log2(m/u)."""

    prior_weight: float
    weights: tuple[tuple[Comparison, tuple[float, ...]], ...]

    def score(
        self, left: Mapping[str, str | None], right: Mapping[str, str | None]
    ) -> tuple[float, float, list[dict[str, Any]]]:
        """(match weight, match probability, explanation) of a pair, as Splink computes them."""
        total = self.prior_weight
        explanation = []
        for comparison, weights in self.weights:
            index = level_of(comparison, left, right)
            total += weights[index]
            explanation.append(
                {
                    "comparison": comparison.name,
                    "level": comparison.levels[index].label,
                    "weight": round(weights[index], 4),
                }
            )
        return total, _probability(total), explanation


def _probability(weight: float) -> float:
    if weight > 1000:
        return 1.0
    odds: float = 2.0**weight
    return odds / (1 + odds)


def _level_weight(level: Mapping[str, Any]) -> float:
    """log2(m/u) of a stored level; a null level (or one never estimated) weighs nothing."""
    m, u = level.get("m_probability"), level.get("u_probability")
    if level.get("is_null_level") or m is None or u is None:
        return 0.0
    return math.log2(max(float(m), 1e-300) / max(float(u), 1e-300))


class OutdatedModel(ValueError):
    """A stored model compares with levels other than ``matching.spec``'s (trained before an
    upgrade changed them): its weights would be given to the wrong levels."""


def parameters_from_settings(settings: Mapping[str, Any]) -> ModelParameters:
    """Read a stored Splink settings document (as ``save_model_to_json`` wrote it); raises
    ``OutdatedModel`` if its comparisons are not today's."""
    by_name = {comparison.name: comparison for comparison in COMPARISONS}
    weights = []
    for stored in settings["comparisons"]:
        comparison = by_name.get(stored["output_column_name"])
        levels = stored["comparison_levels"]
        if comparison is None or [level.get("label_for_charts") for level in levels] != [
            level.label for level in comparison.levels
        ]:
            name = stored["output_column_name"]
            raise OutdatedModel(f"the stored comparison {name!r} has other levels than today's")
        weights.append((comparison, tuple(_level_weight(level) for level in levels)))
    prior = float(settings["probability_two_random_records_match"])
    return ModelParameters(prior_weight=math.log2(prior / (1 - prior)), weights=tuple(weights))


@dataclass(frozen=True)
class ScoringModel:
    """What incremental matching needs of a stored model: its version, parameters and
    thresholds."""

    version: int
    parameters: ModelParameters
    thresholds: Thresholds


_MODELS: dict[tuple[int, datetime], ScoringModel] = {}


def _scoring_model(session: Session) -> ScoringModel | None:
    """The newest model, its settings read and parsed once per process (a model never
    changes: training stores a new version); ``None`` before any training, or while the
    newest was trained with other comparison levels (until the batch job trains again, only
    blocking keys are stored, as before the first training)."""
    header = latest_model_header(session)
    if header is None:
        return None
    found = _MODELS.get((header.id, header.created_at))
    if found is None:
        settings = session.scalar(select(MatchModel.settings).where(MatchModel.id == header.id))
        try:
            parameters = parameters_from_settings(settings or {})
        except OutdatedModel:
            return None  # read again next time: the batch job may have trained a new one
        found = ScoringModel(
            version=header.version,
            parameters=parameters,
            thresholds=Thresholds(
                auto_merge=header.auto_merge_probability, review=header.review_probability
            ),
        )
        if len(_MODELS) > 8:
            _MODELS.clear()
        _MODELS[header.id, header.created_at] = found
    return found


@dataclass(frozen=True)
class IncrementalCandidate:
    """A profile the new one was scored against, and what was decided."""

    customer_id: uuid.UUID
    match_probability: float
    match_weight: float
    explanation: list[dict[str, Any]]
    decision: str  # "auto_merged", "pending", "known" (already decided) or "below_review"


def match_incremental(
    session: Session, store: Store, *, customer_id: uuid.UUID
) -> list[IncrementalCandidate]:
    """Match one active profile against the existing ones, in the caller's transaction.

    Refreshes its keyed blocking keys, scores the profiles sharing one with the newest model
    and merges (above the model's automatic threshold) or queues (above its review threshold)
    exactly as the batch job would. Before any model was trained, only the blocking keys are
    stored and nothing is scored. Returns the scored candidates, best first.

    The profile and its candidates are decrypted in one ``matching_reveals`` block, and every
    audit entry of the match (an entry per customer revealed, the merges') is written in one
    append (``audit.appending_together``).
    """
    with audit.appending_together(session):
        return _match(session, store, customer_id)


def _match(session: Session, store: Store, customer_id: uuid.UUID) -> list[IncrementalCandidate]:
    with matching_reveals(session, store) as opener:
        mine = load_profiles(session, store, customer_ids=[customer_id], opener=opener)
        record = mine.records.get(customer_id)
        if record is None:
            return []  # not active (merged, erased): nothing to resolve
        keys = keyed_blocking_keys(store, record)
        replace_blocking_keys(session, {customer_id: keys})
        model = _scoring_model(session)
        if model is None:
            return []
        # Profiles it is in an identifier conflict with are candidates whatever they share.
        partners = sorted(mine.partners.get(customer_id, set()))
        nearest = [
            *partners,
            *(c for c in candidates(session, customer_id, keys) if c not in partners),
        ]
        others = load_profiles(
            session,
            store,
            customer_ids=nearest,
            opener=opener,
            external_ids=record["external_id"] is not None,
            contested=record["contested"] is not None,
        )
    pairs = []
    for other, other_record in others.records.items():
        weight, probability, explanation = model.parameters.score(record, other_record)
        pairs.append(
            PairScore(
                *ordered(customer_id, other),
                match_probability=probability,
                match_weight=weight,
                explanation=explanation,
            )
        )
    decisions = decide(
        session,
        store,
        pairs=pairs,
        created_at={**mine.created_at, **others.created_at},
        thresholds=model.thresholds,
        model_version=f"v{model.version}",
    )
    result = [
        IncrementalCandidate(
            customer_id=pair.right if pair.left == customer_id else pair.left,
            match_probability=pair.match_probability,
            match_weight=pair.match_weight,
            explanation=pair.explanation,
            decision=decisions.outcomes.get((pair.left, pair.right), "below_review"),
        )
        for pair in pairs
    ]
    return sorted(result, key=lambda c: -c.match_probability)


def candidates(
    session: Session,
    customer_id: uuid.UUID,
    keys: Sequence[tuple[str, bytes]],
    *,
    limit: int = MAX_CANDIDATES,
    max_block: int = MAX_BLOCK,
) -> list[uuid.UUID]:
    """Up to ``limit`` other profiles sharing one of these keyed blocking keys: those sharing
    the most keys first and, among those sharing as many, those whose shared blocks are the
    smallest (the least product of block sizes). Blocks of more than ``max_block`` profiles
    are left out.

    Why this order: past the cap, the likeliest matches are kept. A duplicate shares several
    keys with its original, a stranger in a big block usually one; and sharing a rare value is
    better evidence than sharing a common one (in Fellegi-Sunter terms, agreement on a value
    of frequency f weighs about log2(1/f)), so a near-duplicate sharing one rare key is not
    cut in favour of strangers who share a common surname and postcode.

    Only the key index is read (it covers the customer id): joining ``customers`` here lets
    SQLite's planner walk every active profile instead. ``load_profiles`` then keeps the active
    ones."""
    if not keys:
        return []
    shared: dict[uuid.UUID, int] = {}
    rarity: dict[uuid.UUID, float] = {}
    for candidate, size in session.execute(
        _CANDIDATES,
        {
            "keys": list(dict.fromkeys(key for _kind, key in keys)),
            "max_block": max_block,
            "probe": customer_id,
        },
    ):
        shared[candidate] = shared.get(candidate, 0) + 1
        rarity[candidate] = rarity.get(candidate, 0.0) + math.log2(size)
    ranked = sorted(
        shared, key=lambda candidate: (-shared[candidate], rarity[candidate], candidate)
    )
    return ranked[:limit]

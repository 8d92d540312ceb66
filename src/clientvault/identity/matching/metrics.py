"""Pairwise precision, recall and F1 of identity resolution against a ground truth.

A pair is two records of one person. Resolution predicts a pair when it put both records in
one person (directly or through others); every true pair it did not predict — whether blocking
never compared it or the model scored it too low — is a miss.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import TypeVar

Item = TypeVar("Item", bound=Hashable)


@dataclass(frozen=True)
class PairwiseScores:
    """Counts and rates of a predicted pair set against the true one."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        """Share of predicted pairs that are true (1.0 when nothing was predicted)."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of true pairs that were predicted (1.0 when there are none)."""
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def pairs_of_groups(groups: Mapping[Item, Hashable]) -> set[frozenset[Item]]:
    """Every pair of records that share a group (``record -> group``, e.g. -> person root)."""
    members: dict[Hashable, list[Item]] = {}
    for record, group in groups.items():
        members.setdefault(group, []).append(record)
    return {frozenset(pair) for records in members.values() for pair in combinations(records, 2)}


def pairwise_scores(
    predicted: Iterable[frozenset[Item]], truth: Iterable[frozenset[Item]]
) -> PairwiseScores:
    """Score predicted pairs against true pairs (pairs are unordered)."""
    found, actual = set(predicted), set(truth)
    hits = len(found & actual)
    return PairwiseScores(
        true_positives=hits,
        false_positives=len(found) - hits,
        false_negatives=len(actual) - hits,
    )

"""Pairwise precision, recall and F1."""

from __future__ import annotations

import pytest

from clientvault.identity.matching.metrics import pairs_of_groups, pairwise_scores


def test_groups_give_every_pair_within_them() -> None:
    pairs = pairs_of_groups({"a": 1, "b": 1, "c": 1, "d": 2})
    assert pairs == {frozenset("ab"), frozenset("ac"), frozenset("bc")}


def test_scores_count_misses_and_false_merges() -> None:
    truth = {frozenset("ab"), frozenset("cd"), frozenset("ef")}
    predicted = {frozenset("ba"), frozenset("cd"), frozenset("gh")}
    scores = pairwise_scores(predicted, truth)
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (2, 1, 1)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 / 3)


def test_empty_predictions_have_full_precision_and_no_recall() -> None:
    scores = pairwise_scores(set(), {frozenset("ab")})
    assert (scores.precision, scores.recall, scores.f1) == (1.0, 0.0, 0.0)

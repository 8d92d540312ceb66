"""Training and honest evaluation of a binary classifier, shared by every task.

``fit_and_evaluate`` fits the product model (a ``HistGradientBoostingClassifier`` calibrated by
isotonic regression, so its outputs are probabilities) and the logistic-regression baseline on
one data set, evaluates both (and the RFM heuristic when the features allow it) on a
hold-out, and reports AUC, PR-AUC, Brier score, lift at 10 %, the reliability curve and the
permutation importances. The caller chooses the split: a time split for propensity and churn
(``predict.tasks``), a random stratified 20 % for the telco adapter (``predict.telco``).

Threads are limited to one: the estimators' OpenMP pools oversubscribe a shared machine
(a fit took 20x longer with the default pool on two busy cores).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from clientvault.errors import InvalidInput

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin

Matrix = NDArray[np.float64]
Vector = NDArray[np.int_]
#: The product model's name in the registry.
ALGORITHM = "hist_gradient_boosting+isotonic"


class NotEnoughData(InvalidInput):
    """The minimum-data rules refuse to train (too few positives or negatives, or history)."""


@dataclass(frozen=True)
class Dataset:
    """Rows to learn from or evaluate on: features, 0/1 labels, feature names."""

    names: list[str]
    x: Matrix
    y: Vector

    @property
    def positives(self) -> int:
        """How many rows are labelled 1."""
        return int(self.y.sum())

    @property
    def negatives(self) -> int:
        """How many rows are labelled 0."""
        return int(len(self.y) - self.y.sum())


@dataclass
class Evaluation:
    """A fitted product model and how it and the baselines did on the hold-out."""

    model: Any
    metrics: dict[str, dict[str, float]]
    reliability: list[list[float]]
    importances: list[list[Any]]
    training_seconds: float
    holdout_scores: Matrix = field(repr=False)


def require_minimum(data: Dataset, *, minimum: int, what: str) -> None:
    """Refuse a data set with fewer than ``minimum`` positives or negatives."""
    if data.positives < minimum or data.negatives < minimum:
        raise NotEnoughData(
            f"{what}: {data.positives} positive and {data.negatives} negative examples; "
            f"at least {minimum} of each are needed"
        )


def product_model(seed: int = 0) -> ClassifierMixin:
    """The model the product trains: shallow boosted trees, regularised, early-stopped, with
    isotonic calibration fitted on 3-fold out-of-fold predictions (one final model, so
    scoring costs one ensemble of trees, not three)."""
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    boosted = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=8,
        l2_regularization=1.0,
        early_stopping=True,
        random_state=seed,
    )
    return CalibratedClassifierCV(boosted, method="isotonic", cv=3, ensemble=False)


def baseline_model() -> ClassifierMixin:
    """The logistic-regression baseline (median imputation, standardised features)."""
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000)
    )


def lift_at(y: Vector, scores: Matrix, fraction: float = 0.1) -> float:
    """Positive rate among the top ``fraction`` of scores over the overall positive rate."""
    base = float(np.mean(y))
    if base == 0:
        return 0.0
    top = max(1, round(len(y) * fraction))
    order = np.argsort(-scores, kind="stable")[:top]
    return float(np.mean(y[order])) / base


def metrics_of(y: Vector, scores: Matrix, *, probabilities: bool = True) -> dict[str, float]:
    """AUC, PR-AUC, lift at 10 % and, for probabilities, the Brier score."""
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    found = {
        "auc": float(roc_auc_score(y, scores)),
        "pr_auc": float(average_precision_score(y, scores)),
        "lift_at_10": lift_at(y, scores),
        "positive_rate": float(np.mean(y)),
    }
    if probabilities:
        found["brier"] = float(brier_score_loss(y, scores))
    return found


def rfm_heuristic(data: Dataset, *, buyers_are_positive: bool) -> Matrix | None:
    """The RFM heuristic's score (mean percentile of -recency, frequency and monetary), or
    ``None`` when the features have no RFM columns. For churn the score is reversed."""
    needed = ("recency_days", "frequency", "monetary")
    if not all(name in data.names for name in needed):
        return None
    ranks = []
    for name in needed:
        column = data.x[:, data.names.index(name)]
        column = np.where(
            np.isnan(column), np.nanmax(column) if name == "recency_days" else 0, column
        )
        signed = -column if name == "recency_days" else column
        ranks.append(
            np.argsort(np.argsort(signed, kind="stable"), kind="stable") / max(len(column) - 1, 1)
        )
    score = np.asarray(np.mean(ranks, axis=0), dtype=np.float64)
    return score if buyers_are_positive else 1.0 - score


def permutation_importances(
    model: Any, data: Dataset, *, repeats: int, seed: int, max_rows: int = 600
) -> tuple[Matrix, Matrix]:
    """Mean and spread of the hold-out AUC lost when each feature's column is shuffled.

    What ``sklearn.inspection.permutation_importance`` computes, but with every shuffled copy
    scored in one ``predict_proba`` call: the library scores each copy separately, and the
    calibrated ensemble's fixed cost per call (~80 ms) made it 90 % of a small training run.
    """
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    if len(data.y) > max_rows:  # a stratified-enough sample keeps the cost bounded
        keep = rng.choice(len(data.y), size=max_rows, replace=False)
        data = Dataset(data.names, data.x[keep], data.y[keep])
    base = float(roc_auc_score(data.y, model.predict_proba(data.x)[:, 1]))
    rows, columns = data.x.shape
    copies = []
    for j in range(columns):
        for _ in range(repeats):
            shuffled = data.x.copy()
            shuffled[:, j] = shuffled[rng.permutation(rows), j]
            copies.append(shuffled)
    scores = model.predict_proba(np.vstack(copies))[:, 1].reshape(len(copies), rows)
    losses = np.array([base - roc_auc_score(data.y, s) for s in scores]).reshape(columns, repeats)
    return losses.mean(axis=1), losses.std(axis=1)


def fit_and_evaluate(
    train: Dataset,
    holdout: Dataset,
    *,
    buyers_are_positive: bool = True,
    importance_repeats: int = 3,
    seed: int = 0,
) -> Evaluation:
    """Fit the product model and the baseline on ``train``; measure them (and the RFM
    heuristic) on ``holdout``. ``buyers_are_positive`` orients the RFM heuristic: true for
    purchase propensity, false for churn."""
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.calibration import calibration_curve

    if train.names != holdout.names:
        raise InvalidInput("training and hold-out sets must have the same features")
    with threadpool_limits(1):
        started = time.perf_counter()
        model = product_model(seed).fit(train.x, train.y)
        seconds = time.perf_counter() - started
        baseline = baseline_model().fit(train.x, train.y)
        scores = model.predict_proba(holdout.x)[:, 1]
        metrics = {
            "model": metrics_of(holdout.y, scores),
            "logistic_regression": metrics_of(holdout.y, baseline.predict_proba(holdout.x)[:, 1]),
        }
        rfm = rfm_heuristic(holdout, buyers_are_positive=buyers_are_positive)
        if rfm is not None:
            metrics["rfm"] = metrics_of(holdout.y, rfm, probabilities=False)
        means, stds = permutation_importances(model, holdout, repeats=importance_repeats, seed=seed)
    observed, predicted = calibration_curve(holdout.y, scores, n_bins=10, strategy="quantile")
    importances: list[list[Any]] = sorted(
        ([name, float(m), float(s)] for name, m, s in zip(train.names, means, stds, strict=True)),
        key=lambda row: -float(row[1]),
    )
    return Evaluation(
        model=model,
        metrics=metrics,
        reliability=[[float(p), float(o)] for p, o in zip(predicted, observed, strict=True)],
        importances=importances,
        training_seconds=seconds,
        holdout_scores=scores,
    )


def grade(auc: float) -> str:
    """A quality grade from the hold-out AUC: A ≥ 0.80, B ≥ 0.70, C ≥ 0.60, else D."""
    for letter, floor in (("A", 0.80), ("B", 0.70), ("C", 0.60)):
        if auc >= floor:
            return letter
    return "D"

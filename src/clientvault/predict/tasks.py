"""Purchase propensity and churn on the installation's own data: time-split training,
promotion through the registry, and daily scoring into customer scores.

The split is in time: with ``end`` the newest order and ``w`` the task's window, the model
learns from features as of ``end - 2w`` with labels from ``[end - 2w, end - w)`` and is
evaluated on features as of ``end - w`` with labels from ``[end - w, end)`` — it never sees
the period it is judged on. Only customers in the ``profiling`` audience (consent granted, no
restriction, not erased, not merged away) are trained on or scored: someone who withdraws
consent to profiling drops out of both at the next run, and their scores go at once with
``forget_customer``.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from clientvault.customers.scores import Score, remove_scores, replace_scores
from clientvault.errors import InvalidInput, NotFound
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.predict import registry
from clientvault.predict.features import (
    BATCH,
    FeatureFrame,
    build_features,
    combine,
    feature_batches,
    history_span,
)
from clientvault.predict.models import PredictModel
from clientvault.predict.training import (
    ALGORITHM,
    Dataset,
    NotEnoughData,
    fit_and_evaluate,
    grade,
    require_minimum,
)
from clientvault.privacy.audiences import allows, audience
from clientvault.security.models import Alert
from clientvault.store.base import utcnow

#: The purpose that must allow a customer's use in training and scoring.
PURPOSE = "profiling"
#: Fewest positives and negatives in each of the training and hold-out sets.
MIN_EXAMPLES = 20
#: History needed before training, in prediction windows (Segment's Predictions rule).
HISTORY_WINDOWS = 3


@dataclass(frozen=True)
class Task:
    """A prediction task: what the score is called and the window it predicts over."""

    name: str
    score_kind: str
    window_days: int
    buyers_are_positive: bool
    description: str


TASKS: dict[str, Task] = {
    "propensity": Task("propensity", "purchase_propensity", 30, True, "buys in the next 30 days"),
    "churn": Task("churn", "churn_probability", 60, False, "no order in the next 60 days"),
}


def get_task(name: str) -> Task:
    """A task by name, or a clear error listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown task {name!r}: one of {', '.join(sorted(TASKS))}",
            details={"field": "task"},
        ) from None


def _ordered_before(as_of: datetime) -> ColumnElement[bool]:
    return exists(select(Order.id).where(Order.customer_id == Customer.id, Order.placed_at < as_of))


def population(
    session: Session, as_of: datetime, *, batch: int = BATCH
) -> Iterator[list[uuid.UUID]]:
    """The customers a model learns from or scores as of ``as_of`` (an order before it, in
    the ``profiling`` audience), a batch at a time in id order: each batch is one page of
    the customers with an order (keyset, by id) filtered through the audience, so no query
    and no list ever holds the whole population."""
    after: uuid.UUID | None = None
    while True:
        page = select(Customer.id).where(_ordered_before(as_of))
        if after is not None:
            page = page.where(Customer.id > after)
        ids = list(session.scalars(page.order_by(Customer.id).limit(batch)))
        if not ids:
            return
        after = ids[-1]
        within = select(Customer.id).where(
            Customer.id >= ids[0], Customer.id <= ids[-1], _ordered_before(as_of)
        )
        allowed = sorted(session.scalars(audience(session, purpose=PURPOSE, customers=within)))
        if allowed:
            yield allowed


def _buyers(
    session: Session, frame: FeatureFrame, start: datetime, end: datetime
) -> set[uuid.UUID]:
    """The frame's customers who placed an order in ``[start, end)``: the label window of a
    model (read after the cut-off on purpose, and never a feature)."""
    if not frame.customer_ids:
        return set()
    return set(
        session.scalars(
            select(Order.customer_id)
            .where(
                Order.customer_id >= frame.customer_ids[0],
                Order.customer_id <= frame.customer_ids[-1],
                Order.placed_at >= start,
                Order.placed_at < end,
            )
            .distinct()
        )
    )


def _dataset(session: Session, task: Task, cut: datetime, names: list[str] | None) -> Dataset:
    """The features as of ``cut`` of the population then, labelled by the task's window
    after it; built batch by batch (only the matrix grows with the population)."""
    xs, ys, seen = [], [], []
    for frame in feature_batches(session, as_of=cut, batches=population(session, cut), names=names):
        buyers = _buyers(session, frame, cut, cut + timedelta(days=task.window_days))
        bought = np.array([c in buyers for c in frame.customer_ids], dtype=np.int_)
        xs.append(frame)
        ys.append(bought if task.buyers_are_positive else 1 - bought)
        seen.extend(frame.names)
    columns = list(names) if names is not None else sorted(set(seen))
    matrix = combine(xs, columns)
    return Dataset(columns, matrix, np.concatenate(ys) if ys else np.empty(0, dtype=np.int_))


@dataclass(frozen=True)
class TrainingOutcome:
    """What one training run produced: the registry row and whether it was promoted."""

    model: PredictModel
    promoted: bool
    current_auc: float | None


def train_task(session: Session, task_name: str, *, end: datetime | None = None) -> TrainingOutcome:
    """Train, evaluate and register a model for the task; promote it if it beats the current
    one on the same hold-out. Raises ``NotEnoughData`` when the minimum-data rules refuse."""
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.metrics import roc_auc_score

    task = get_task(task_name)
    span = history_span(session)
    window = timedelta(days=task.window_days)
    if span is None:
        raise NotEnoughData(f"{task.name}: no orders to learn from")
    first, last = span
    end = end or last + timedelta(seconds=1)
    if end - first < HISTORY_WINDOWS * window:
        raise NotEnoughData(
            f"{task.name}: {(end - first).days} days of history; at least "
            f"{HISTORY_WINDOWS * task.window_days} ({HISTORY_WINDOWS}x the window) are needed"
        )
    holdout_cut = end - window
    train_cut = holdout_cut - window
    train = _dataset(session, task, train_cut, None)
    require_minimum(train, minimum=MIN_EXAMPLES, what=f"{task.name} training set")
    holdout = _dataset(session, task, holdout_cut, train.names)
    require_minimum(holdout, minimum=MIN_EXAMPLES, what=f"{task.name} hold-out set")
    evaluation = fit_and_evaluate(train, holdout, buyers_are_positive=task.buyers_are_positive)
    at = utcnow()
    auc = evaluation.metrics["model"]["auc"]
    row = PredictModel(
        task=task.name,
        version=registry.new_version(task.name, at),
        status="candidate",
        algorithm=ALGORITHM,
        trained_at=at,
        train_cutoff=train_cut,
        holdout_cutoff=holdout_cut,
        window_days=task.window_days,
        training_rows=len(train.y),
        holdout_rows=len(holdout.y),
        features=train.names,
        metrics={**evaluation.metrics, "feature_medians": _medians(holdout.x)},
        importances=evaluation.importances,
        reliability=evaluation.reliability,
        training_seconds=evaluation.training_seconds,
        code_version=registry.code_version(),
        grade=grade(auc),
        note="",
        artifact=registry.dump(evaluation.model),
    )
    session.add(row)
    session.flush()
    current = registry.current_model(session, task.name)
    current_auc = None
    if current is not None and current.id != row.id:
        current_holdout = _dataset(session, task, holdout_cut, current.features)
        with threadpool_limits(1):
            scores = registry.load(current).predict_proba(current_holdout.x)[:, 1]
        current_auc = float(roc_auc_score(current_holdout.y, scores))
    promoted = registry.promote_if_better(session, row, candidate_auc=auc, current_auc=current_auc)
    return TrainingOutcome(row, promoted, current_auc)


def _medians(matrix: NDArray[np.float64]) -> list[float | None]:
    """Each column's median (``None`` for a feature nobody has): what ``explain`` sets a
    feature to, kept with the model so explaining one score reads one customer only."""
    with warnings.catch_warnings():  # a feature nobody has (all NaN) has a NaN median: fine
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(matrix, axis=0) if len(matrix) else np.full(matrix.shape[1], np.nan)
    return [None if np.isnan(m) else float(m) for m in medians]


class _Drift:
    """The score and feature histograms of one scoring run, counted batch by batch."""

    def __init__(self, model: PredictModel) -> None:
        self.model = model
        self.scores = np.zeros(10, dtype=np.int64)
        self.bins: dict[str, list[float]] | None = model.metrics.get("feature_bins")
        self.features: dict[str, NDArray[np.int64]] = {}

    def add(self, matrix: NDArray[np.float64], values: NDArray[np.float64]) -> None:
        """Count one batch's scores and feature values."""
        self.scores += np.histogram(values, bins=10, range=(0.0, 1.0))[0]
        if self.bins is None:  # the model's first run: the first batch's deciles bin each feature
            self.bins = _feature_bins(matrix, self.model.features)
        for j, name in enumerate(self.model.features):
            counts = np.asarray(_feature_histogram(matrix[:, j], self.bins[name]), dtype=np.int64)
            self.features[name] = self.features.get(name, 0) + counts

    def check(self, session: Session, at: datetime) -> None:
        """Alert on the run's drift and keep its histograms on the registry row."""
        if self.bins is None:
            return
        _check_drift(session, self.model, [int(c) for c in self.scores], at)
        histograms = {name: [int(c) for c in counts] for name, counts in self.features.items()}
        _check_feature_drift(session, self.model, self.bins, histograms, at)


def score_task(
    session: Session, task_name: str, *, as_of: datetime | None = None, batch: int = BATCH
) -> int:
    """Score every eligible customer with the task's promoted model into customer scores
    (a full replacement: customers no longer eligible lose their score); returns how many.
    Customers are read, scored and written ``batch`` at a time: memory stays that of one
    batch however many customers there are."""
    task = get_task(task_name)
    model = registry.current_model(session, task.name)
    if model is None:
        return 0
    as_of = as_of or utcnow()
    estimator = registry.load(model)
    drift = _Drift(model)

    def scored() -> Iterator[Score]:
        frames = feature_batches(
            session,
            as_of=as_of,
            batches=population(session, as_of, batch=batch),
            names=model.features,
        )
        for frame in frames:
            with threadpool_limits(1):
                values = estimator.predict_proba(frame.matrix)[:, 1]
            drift.add(frame.matrix, values)
            for customer_id, value in zip(frame.customer_ids, values, strict=True):
                yield Score(customer_id, value=float(value))

    written = replace_scores(session, task.score_kind, scored(), model_version=model.version)
    drift.check(session, as_of)
    return written


@dataclass(frozen=True)
class Contribution:
    """How much one feature moves a customer's score: the score with the feature at its
    population median minus the customer's score, negated (positive: pushes it up)."""

    feature: str
    value: float
    effect: float


def explain(
    session: Session, task_name: str, customer_id: uuid.UUID, *, as_of: datetime | None = None
) -> list[Contribution]:
    """The features that push one customer's score up or down under the promoted model,
    strongest first: each feature in turn is set to its median over the model's hold-out
    population (kept with the model at training) and the change of score is its effect; only
    this customer's features are read. Only for a customer who may be profiled (``NotFound``
    otherwise, as for a customer with no score)."""
    task = get_task(task_name)
    model = registry.current_model(session, task.name)
    if model is None:
        raise NotFound("no promoted model for this task", details={"task": task.name})
    as_of = as_of or utcnow()
    ordered = session.scalar(
        select(Order.id).where(Order.customer_id == customer_id, Order.placed_at < as_of).limit(1)
    )
    if ordered is None or not allows(session, customer_id, purpose=PURPOSE):
        raise NotFound("no score for this customer", details={"customer_id": str(customer_id)})
    row = build_features(
        session, as_of=as_of, customers=[customer_id], names=model.features
    ).matrix[0]
    stored = model.metrics.get("feature_medians")
    if stored is None:  # a model trained before the medians were kept: the population's now
        frames = feature_batches(
            session, as_of=as_of, batches=population(session, as_of), names=model.features
        )
        stored = _medians(combine(list(frames), model.features))
    medians = [math.nan if m is None else m for m in stored]
    variants = np.tile(row, (len(model.features) + 1, 1))
    for j in range(len(model.features)):
        variants[j + 1, j] = medians[j]
    with threadpool_limits(1):
        scores = registry.load(model).predict_proba(variants)[:, 1]
    found = [
        Contribution(name, float(row[j]), float(scores[0] - scores[j + 1]))
        for j, name in enumerate(model.features)
    ]
    return sorted(found, key=lambda c: -abs(c.effect))


#: Population stability index above which the score distribution is said to have moved
#: (the usual rule of thumb: under 0.1 stable, 0.1-0.2 some shift, above 0.2 a real one).
DRIFT_PSI = 0.2
#: The quantiles whose values bin a feature for its drift check.
DECILES = np.linspace(0.1, 0.9, 9)


def stability_index(expected: Sequence[float], actual: Sequence[float]) -> float:
    """The population stability index between two histograms of the same bins."""
    e = np.asarray(expected, dtype=np.float64) + 1e-4
    a = np.asarray(actual, dtype=np.float64) + 1e-4
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _check_drift(session: Session, model: PredictModel, histogram: list[int], at: datetime) -> None:
    """Compare this run's score histogram with the previous run's under the same model; a
    shift above ``DRIFT_PSI`` raises a ``model_drift`` alert. The histogram is kept on the
    registry row for the next run."""
    previous = model.metrics.get("score_histogram")
    model.metrics = {**model.metrics, "score_histogram": histogram}
    if not previous:
        return
    psi = stability_index(previous, histogram)
    if psi <= DRIFT_PSI:
        return
    _drift_alert(
        session,
        model,
        at,
        what="scores",
        summary=f"{model.task} scores moved: stability index {psi:.2f} (above {DRIFT_PSI})",
        evidence={"psi": round(psi, 4), "histogram": histogram},
    )


def _feature_histogram(column: NDArray[np.float64], edges: Sequence[float]) -> list[int]:
    """Counts of a feature's values between ``edges`` (outer bins open-ended), and of its
    missing values in a last bin: a feature that goes missing has moved too."""
    present = column[~np.isnan(column)]
    inner = np.searchsorted(np.asarray(edges, dtype=np.float64), present, side="right")
    counts = np.bincount(inner, minlength=len(edges) + 1)
    return [*(int(c) for c in counts), int(np.isnan(column).sum())]


def _feature_bins(matrix: NDArray[np.float64], names: Sequence[str]) -> dict[str, list[float]]:
    """Each feature's deciles in ``matrix`` (none for a feature nobody has): its drift bins."""
    with warnings.catch_warnings():  # an all-missing feature has no quantiles: no bins
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            name: sorted({float(q) for q in np.nanquantile(matrix[:, j], DECILES)})
            if not np.isnan(matrix[:, j]).all()
            else []
            for j, name in enumerate(names)
        }


def _check_feature_drift(
    session: Session,
    model: PredictModel,
    bins: dict[str, list[float]],
    histograms: dict[str, list[int]],
    at: datetime,
) -> None:
    """Compare each feature's histogram in this scoring run with the first run's under the
    same model (both kept on the registry row with their bins: the deciles of the first
    run's first batch); features whose stability index exceeds ``DRIFT_PSI`` raise one
    ``model_drift`` alert naming them."""
    baseline = model.metrics.get("feature_baseline")
    if not baseline:
        model.metrics = {**model.metrics, "feature_bins": bins, "feature_baseline": histograms}
        return
    moved = {}
    for name in model.features:
        psi = stability_index(baseline[name], histograms[name])
        if psi > DRIFT_PSI:
            moved[name] = round(psi, 4)
    if moved:
        strongest = sorted(moved.items(), key=lambda item: -item[1])
        named = ", ".join(f"{n} ({v:.2f})" for n, v in strongest[:3])
        if len(strongest) > 3:
            named += f" and {len(strongest) - 3} more"
        _drift_alert(
            session,
            model,
            at,
            what="features",
            # The alert's summary is one line (200 characters); every feature is in the evidence.
            summary=f"{model.task} features moved since scoring began: {named}"[:200],
            evidence={"features": moved},
        )


def _drift_alert(
    session: Session,
    model: PredictModel,
    at: datetime,
    *,
    what: str,
    summary: str,
    evidence: dict[str, object],
) -> None:
    """One ``model_drift`` alert per model, kind of drift and day."""
    key = f"model_drift:{what}:{model.version}:{at:%Y%m%d}"
    if session.scalar(select(Alert.id).where(Alert.dedup_key == key)) is not None:
        return
    session.add(
        Alert(
            dedup_key=key,
            kind="model_drift",
            severity="medium",
            status="open",
            subject=f"model:{model.version}",
            actor_kind="system",
            actor_id="predict.score",
            window_start=at,
            window_end=at,
            summary=summary,
            evidence={"version": model.version, "drift": what, **evidence},
        )
    )


def forget_customer(session: Session, customer_id: uuid.UUID) -> int:
    """Remove a customer's prediction scores at once (objection to profiling, restriction),
    without waiting for the next daily run."""
    removed = 0
    for task in TASKS.values():
        removed += remove_scores(session, [customer_id], kind=task.score_kind)
    return removed

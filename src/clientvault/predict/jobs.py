"""Predict's scheduled jobs: nightly retraining (promotion by the registry's rule), daily
scoring into customer scores."""

from __future__ import annotations

import logging
from datetime import timedelta

from clientvault.predict import fraud
from clientvault.predict.personal import train_recommender
from clientvault.predict.tasks import TASKS, score_task, train_task
from clientvault.predict.training import NotEnoughData
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

log = logging.getLogger(__name__)


def retrain(store: Store, settings: Settings) -> dict[str, str]:
    """Train every task; a task the minimum-data rules refuse is skipped and said so."""
    outcome: dict[str, str] = {}
    for name in TASKS:
        try:
            with store.sessions.begin() as session:
                trained = train_task(session, name)
                status = "promoted" if trained.promoted else "kept as candidate"
                outcome[name] = f"{trained.model.version} ({status})"
        except NotEnoughData as exc:
            log.info("predict: %s not trained: %s", name, exc)
            outcome[name] = f"skipped: {exc}"
    try:
        with store.sessions.begin() as session:
            outcome["recommend"] = train_recommender(session).version
    except NotEnoughData as exc:
        log.info("predict: recommender not trained: %s", exc)
        outcome["recommend"] = f"skipped: {exc}"
    return outcome


def score_daily(store: Store, settings: Settings) -> dict[str, int]:
    """Score every eligible customer with each task's promoted model."""
    written = {}
    for name in TASKS:
        with store.sessions.begin() as session:
            written[name] = score_task(session, name)
    return written


def score_fraud(store: Store, settings: Settings) -> int:
    """Score the orders' fraud risk; high-risk orders raise alerts."""
    with store.sessions.begin() as session:
        return fraud.score_orders(session)


RETRAIN = ScheduledJob(
    name="predict.retrain",
    description="Retrain propensity, churn and the recommender; promote models beating the "
    "current one on the hold-out.",
    schedule=lambda settings: "daily at 02:00",
    run=retrain,
    lease=timedelta(hours=2),
)
SCORE = ScheduledJob(
    name="predict.score",
    description="Write purchase propensity and churn scores of customers allowing profiling.",
    schedule=lambda settings: "daily at 03:00",
    run=score_daily,
    lease=timedelta(hours=1),
)
FRAUD = ScheduledJob(
    name="predict.fraud",
    description="Score orders' fraud risk into the review queue; alert on high-risk orders.",
    schedule=lambda settings: "every 15 minutes",
    run=score_fraud,
    lease=timedelta(minutes=30),
)
JOBS: tuple[ScheduledJob, ...] = (RETRAIN, SCORE, FRAUD)

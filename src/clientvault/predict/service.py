"""One entry point to train any task (the API, the CLI and the console call it): the
propensity and churn models through ``tasks``, the recommender through ``personal``;
audited when a person asks for it. Reading one customer's explanation or recommendations
is audited here too."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.predict.models import PredictModel
from clientvault.predict.personal import (
    CustomerRecommendations,
    recommendations_for,
    train_recommender,
)
from clientvault.predict.tasks import TASKS, Contribution, explain, train_task
from clientvault.security import audit
from clientvault.security.principal import Principal

#: Every task that can be trained, by name.
TRAINABLE = (*TASKS, "recommend")


def train(session: Session, task: str, *, by: Principal | None = None) -> PredictModel:
    """Train the task now; ``NotEnoughData`` when the minimum-data rules refuse."""
    if task not in TRAINABLE:
        raise InvalidInput(
            f"unknown task {task!r}: one of {', '.join(TRAINABLE)}", details={"field": "task"}
        )
    row = train_recommender(session) if task == "recommend" else train_task(session, task).model
    if by is not None:
        audit.record(
            session,
            principal=by,
            action="predict.model_trained",
            target_type="model",
            target_ids=[row.version],
            details={"task": task, "status": row.status},
        )
    return row


def explain_score(
    session: Session, task: str, customer_id: uuid.UUID, *, by: Principal
) -> list[Contribution]:
    """Why the customer's score is what it is (``tasks.explain``), the reading audited: it
    tells something about one person."""
    found = explain(session, task, customer_id)
    audit.record(
        session,
        principal=by,
        action="predict.score_explained",
        target_type="customer",
        target_ids=[str(customer_id)],
        details={"task": task},
    )
    return found


def customer_recommendations(
    session: Session, customer_id: uuid.UUID, *, k: int, by: Principal
) -> CustomerRecommendations:
    """Up to ``k`` products for the customer (``personal.recommendations_for``, through the
    personalisation audience), the reading audited."""
    found = recommendations_for(session, customer_id, k=k)
    audit.record(
        session,
        principal=by,
        action="predict.recommendations_read",
        target_type="customer",
        target_ids=[str(customer_id)],
    )
    return found

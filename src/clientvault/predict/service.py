"""One entry point to train any task (the API, the CLI and the console call it): the
propensity and churn models through ``tasks``, the recommender through ``personal``;
audited when a person asks for it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.predict.models import PredictModel
from clientvault.predict.personal import train_recommender
from clientvault.predict.tasks import TASKS, train_task
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

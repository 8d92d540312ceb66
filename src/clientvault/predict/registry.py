"""The model registry: every trained model with its window, features, metrics, importances,
reliability curve, training time, code version and grade; promotion of the best per task.

A model is promoted only if it beats the promoted one on the *candidate's* hold-out (the
current model is re-scored on the same rows, so the comparison is like for like); the first
model of a task is promoted if it beats its own baselines. ``promote`` by hand (CLI, console)
overrides the rule and is audited.
"""

from __future__ import annotations

import hashlib
import pickle
import secrets
from datetime import datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, NotFound
from clientvault.predict.models import PredictModel
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow

_PACKAGE = Path(__file__).resolve().parent
#: What the registry row's ``metrics`` also keeps besides each scorer's figures: the drift
#: checks' histograms and bins, and the medians ``tasks.explain`` sets a feature to.
BOOKKEEPING = frozenset({"score_histogram", "feature_bins", "feature_baseline", "feature_medians"})


def scorer_metrics(model: PredictModel) -> dict[str, dict[str, float]]:
    """The hold-out figures of the model and of each baseline, by scorer (what the console
    and the CLI show), without the bookkeeping kept beside them."""
    return {k: v for k, v in model.metrics.items() if k not in BOOKKEEPING}


def code_version() -> str:
    """The package version and a digest of the predict package's source: which code trained
    a model, even between releases."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"{package_version('clientvault')}+{digest.hexdigest()[:12]}"


def dump(model: object) -> bytes:
    """A fitted estimator as bytes for ``PredictModel.artifact``."""
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def load(row: PredictModel) -> Any:
    """The fitted estimator of a registry row. Only artifacts this code wrote into our own
    database are ever unpickled (there is no upload path), hence the S301 exception."""
    return pickle.loads(row.artifact)  # noqa: S301


def new_version(task: str, at: datetime) -> str:
    """A version name: the task, the training time and a random suffix (two trainings of
    one task in the same second — a fast machine, a retry — still get distinct names)."""
    return f"{task}-{at.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


def list_models(
    session: Session, *, task: str | None = None, limit: int = 100
) -> list[PredictModel]:
    """Registered models, newest first, optionally of one task."""
    query = select(PredictModel).order_by(PredictModel.id.desc()).limit(limit)
    if task is not None:
        query = query.where(PredictModel.task == task)
    return list(session.scalars(query))


def get_model(session: Session, version: str) -> PredictModel:
    """One model by version, or ``NotFound``."""
    row = session.scalar(select(PredictModel).where(PredictModel.version == version))
    if row is None:
        raise NotFound("no such model", details={"version": version})
    return row


def current_model(session: Session, task: str) -> PredictModel | None:
    """The promoted model of a task, if any."""
    return session.scalar(
        select(PredictModel).where(PredictModel.task == task, PredictModel.status == "promoted")
    )


def beats(candidate_auc: float, current_auc: float | None, *, margin: float = 0.0) -> bool:
    """The promotion rule: strictly better hold-out AUC than the current model (by more than
    ``margin``); with no current model, any candidate qualifies."""
    return current_auc is None or candidate_auc > current_auc + margin


def make_current(session: Session, row: PredictModel) -> None:
    """Make ``row`` its task's promoted model, retiring the previous one."""
    previous = current_model(session, row.task)
    if previous is not None and previous.id != row.id:
        previous.status = "retired"
    row.status = "promoted"
    row.promoted_at = utcnow()
    session.flush()


def promote_if_better(
    session: Session, row: PredictModel, *, candidate_auc: float, current_auc: float | None
) -> bool:
    """Promote ``row`` if it beats the current model on the same hold-out; notes why not."""
    if beats(candidate_auc, current_auc):
        make_current(session, row)
        return True
    row.note = (
        f"not promoted: hold-out AUC {candidate_auc:.4f} does not beat the current "
        f"model's {current_auc:.4f} on the same rows"
    )[:200]
    return False


def promote(session: Session, version: str, *, by: Principal) -> PredictModel:
    """Promote a model by hand (overrides the rule; audited)."""
    row = get_model(session, version)
    if row.status == "promoted":
        raise Conflict("this model is already promoted", details={"version": version})
    make_current(session, row)
    audit.record(
        session,
        principal=by,
        action="predict.model_promoted",
        target_type="model",
        target_ids=[version],
        details={"task": row.task},
    )
    return row

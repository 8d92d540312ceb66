"""Predictions over the API: a customer's scores and recommendations, the model registry
(list, train, promote) and the order-fraud review queue."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict

from clientvault.customers.scores import scores_of
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import get_store
from clientvault.http.params import RowId
from clientvault.predict import fraud, registry, service
from clientvault.predict.service import train

router = APIRouter(tags=["predict"])
ReadCustomers = Annotated[Caller, Depends(Authorize("customers:read"))]
ReadModels = Annotated[Caller, Depends(Authorize("analytics:read"))]
ManageModels = Annotated[Caller, Depends(Authorize("settings:manage"))]
# Fraud review sits with whoever triages alerts: a high-risk order raises one.
ReviewFraud = Annotated[Caller, Depends(Authorize("alerts:read"))]
Version = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-T]+$")]


class ScoreRead(BaseModel):
    """One score of a customer."""

    model_config = ConfigDict(from_attributes=True)
    kind: str
    value: float | None
    label: str | None
    model_version: str
    computed_at: datetime


class ProductRead(BaseModel):
    """One recommended product and why."""

    model_config = ConfigDict(from_attributes=True)
    product_id: int
    sku: str
    name: str
    category: str | None
    score: float
    reason: str


class RecommendationsRead(BaseModel):
    """A customer's recommendations; ``allowed`` is false (and the list empty) when their
    data may not be used for personalisation."""

    model_config = ConfigDict(from_attributes=True)
    customer_id: uuid.UUID
    allowed: bool
    model_version: str | None
    items: list[ProductRead]


class ModelRead(BaseModel):
    """A registered model with its window, metrics, importances and grade."""

    model_config = ConfigDict(from_attributes=True)
    task: str
    version: str
    status: str
    algorithm: str
    trained_at: datetime
    train_cutoff: datetime | None
    holdout_cutoff: datetime | None
    window_days: int
    training_rows: int
    holdout_rows: int
    features: list[str]
    metrics: dict[str, Any]
    importances: list[Any]
    reliability: list[Any]
    training_seconds: float
    code_version: str
    grade: str
    note: str


class TrainRequest(BaseModel):
    """Which task to train now."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["propensity", "churn", "recommend"]


class RiskRead(BaseModel):
    """An order's fraud risk and the reasons behind it."""

    model_config = ConfigDict(from_attributes=True)
    order_id: int
    customer_id: uuid.UUID | None
    score: float
    rule_score: float
    anomaly: float
    reasons: list[str]
    status: str
    label: str | None
    reviewed_at: datetime | None


class LabelRequest(BaseModel):
    """A reviewer's verdict on an order."""

    model_config = ConfigDict(extra="forbid")
    label: Literal["fraud", "legitimate"]


@router.get("/api/v1/customers/{customer_id}/scores", response_model=list[ScoreRead])
def customer_scores(
    customer_id: uuid.UUID, request: Request, caller: ReadCustomers
) -> list[ScoreRead]:
    """The customer's scores (propensity, churn, fraud risk, RFM…), by kind."""
    with get_store(request).read_sessions() as session:
        return [ScoreRead.model_validate(s) for s in scores_of(session, customer_id)]


class ContributionRead(BaseModel):
    """One feature's push on the customer's score (positive: up)."""

    model_config = ConfigDict(from_attributes=True)
    feature: str
    value: float | None
    effect: float


@router.get(
    "/api/v1/customers/{customer_id}/predictions/{task}/explanation",
    response_model=list[ContributionRead],
)
def explain_score(
    customer_id: uuid.UUID,
    task: Literal["propensity", "churn"],
    request: Request,
    caller: ReadCustomers,
) -> list[ContributionRead]:
    """The features that push the customer's propensity or churn score up or down."""
    store = get_store(request)
    with store.sessions.begin() as session:
        found = service.explain_score(session, task, customer_id, by=caller.principal)
    return [
        ContributionRead(
            feature=c.feature, value=None if math.isnan(c.value) else c.value, effect=c.effect
        )
        for c in found
    ]


@router.get("/api/v1/customers/{customer_id}/recommendations", response_model=RecommendationsRead)
def customer_recommendations(
    customer_id: uuid.UUID,
    request: Request,
    caller: ReadCustomers,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> RecommendationsRead:
    """Up to ``k`` products for the customer, through the personalisation audience."""
    store = get_store(request)
    with store.sessions.begin() as session:
        found = service.customer_recommendations(session, customer_id, k=k, by=caller.principal)
    return RecommendationsRead.model_validate(found)


@router.get("/api/v1/predict/models", response_model=list[ModelRead])
def list_models(
    request: Request,
    caller: ReadModels,
    task: Literal["propensity", "churn", "recommend"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ModelRead]:
    """Registered models, newest first."""
    with get_store(request).read_sessions() as session:
        return [
            ModelRead.model_validate(m)
            for m in registry.list_models(session, task=task, limit=limit)
        ]


@router.post("/api/v1/predict/models", response_model=ModelRead, status_code=201)
def train_model(body: TrainRequest, request: Request, caller: ManageModels) -> ModelRead:
    """Train a model now (promoted if it beats the current one on the hold-out)."""
    with get_store(request).sessions.begin() as session:
        row = train(session, body.task, by=caller.principal)
        return ModelRead.model_validate(row)


@router.post("/api/v1/predict/models/{version}/promote", response_model=ModelRead)
def promote_model(version: Version, request: Request, caller: ManageModels) -> ModelRead:
    """Promote a model by hand (overrides the hold-out rule; audited)."""
    with get_store(request).sessions.begin() as session:
        return ModelRead.model_validate(registry.promote(session, version, by=caller.principal))


@router.get("/api/v1/predict/fraud", response_model=list[RiskRead])
def fraud_queue(
    request: Request,
    caller: ReviewFraud,
    status: Literal["open", "reviewed"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RiskRead]:
    """Orders to review, riskiest first, with their reasons."""
    with get_store(request).read_sessions() as session:
        return [
            RiskRead.model_validate(r) for r in fraud.queue(session, status=status, limit=limit)
        ]


@router.post("/api/v1/predict/fraud/{order_id}/label", response_model=RiskRead)
def label_order(
    order_id: RowId, body: LabelRequest, request: Request, caller: ReviewFraud
) -> RiskRead:
    """Record the reviewer's verdict on an order (kept for the next training)."""
    with get_store(request).sessions.begin() as session:
        return RiskRead.model_validate(
            fraud.label(session, order_id=order_id, label=body.label, by=caller.principal)
        )

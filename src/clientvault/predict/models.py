"""Predict's tables: the model registry and the order-risk review queue.

A product-stock table does not exist elsewhere yet, so ``predict_product_flags`` keeps what the
recommender must know about a product beyond the catalogue: whether it is in stock and whether
it is consumable (bought again, so it may be recommended right after a purchase).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, JsonDocument, utcnow


class PredictModel(Base):
    """One trained model: its data window, features, metrics against the baselines,
    permutation importances, reliability curve, training time, code version and grade.
    ``status`` is ``candidate`` until promoted; one ``promoted`` model per task scores."""

    __tablename__ = "predict_models"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="candidate", index=True)
    algorithm: Mapped[str] = mapped_column(String(64))
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    train_cutoff: Mapped[datetime | None]
    holdout_cutoff: Mapped[datetime | None]
    window_days: Mapped[int] = mapped_column(Integer, default=0)
    training_rows: Mapped[int] = mapped_column(Integer, default=0)
    holdout_rows: Mapped[int] = mapped_column(Integer, default=0)
    features: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    importances: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    reliability: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    training_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    code_version: Mapped[str] = mapped_column(String(64))
    grade: Mapped[str] = mapped_column(String(1))
    note: Mapped[str] = mapped_column(String(200), default="")
    promoted_at: Mapped[datetime | None]
    #: The fitted estimator, pickled by this code only (never accepted from outside). Deferred:
    #: read only when ``registry.load`` unpickles it, not with every look-up of the row (a
    #: recommender for a million customers is hundreds of megabytes; a recommendation or a
    #: content decision asks for the current row, whose estimator is already loaded).
    artifact: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class OrderRisk(Base):
    """An order's fraud risk: rule hits with their reasons, the anomaly score, the combined
    score, and the reviewer's label once looked at (labels feed the next training)."""

    __tablename__ = "predict_order_risks"

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    score: Mapped[float] = mapped_column(Float, index=True)
    rule_score: Mapped[float] = mapped_column(Float)
    anomaly: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    label: Mapped[str | None] = mapped_column(String(16))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None]
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductFlags(Base):
    """What the recommender knows of a product beyond the catalogue (absent: in stock and
    not consumable)."""

    __tablename__ = "predict_product_flags"

    product_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    in_stock: Mapped[bool] = mapped_column(default=True)
    consumable: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

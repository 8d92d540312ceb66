"""The analytics tables: fitted CLV models (with their calibration) and A/B experiments.

Neither names a customer: a fit keeps parameters and aggregate calibration bins, an
experiment its variants; per-customer CLV predictions go to ``customers.scores`` and exposures
are read from the event log, so no holder is needed here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, JsonDocument, utcnow


class ClvFit(Base):
    """One run of ``analytics clv fit``: BG/NBD and Gamma-Gamma parameters, log-likelihoods
    and the calibration bins (predicted vs actual purchases in the hold-out period)."""

    __tablename__ = "analytics_clv_fits"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    calibration_end: Mapped[datetime | None]
    observation_end: Mapped[datetime]
    customers: Mapped[int]
    bgnbd: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    gamma_gamma: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    calibration: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    horizon_days: Mapped[int]


class Experiment(Base):
    """An A/B experiment: its key (the ``experiment_id`` clients send), its variants with
    weights, and its goal metric (an event name, or revenue)."""

    __tablename__ = "analytics_experiments"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="running")
    #: ``[{"key": "control", "weight": 0.5}, ...]``; the first is the control.
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    #: ``{"kind": "event", "event": "Order Completed"}`` or ``{"kind": "revenue"}``.
    goal: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    #: Other metrics watched for harm, same shape as ``goal``.
    guardrails: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    #: Share of traffic held out of every experiment (gets control, not counted).
    holdout: Mapped[float] = mapped_column(Float, default=0.0)
    planned_users: Mapped[int] = mapped_column(default=1000)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]

"""Customer lifetime value from the product's own orders: the RFM summary, the BG/NBD and
Gamma-Gamma fits (``analytics.clv``), calibration against a hold-out period, and the
per-customer predictions written as customer scores.

Definitions (time unit: days; a purchase day is a calendar day in the installation's time zone
with at least one order, as in Fader, Hardie & Lee, who count repeat transactions per day):

* **frequency**: purchase days after the first one, before the end of the period;
* **recency**: days from the first purchase day to the last;
* **T**: days from the first purchase day to the end of the period;
* **monetary**: the mean net value (total less refunds) of the repeat purchase days;
* **historical CLV**: a customer's net revenue so far;
* **predicted CLV**: expected purchases over the horizon × expected value per purchase.

Scores written (``customers.scores``, usable in segment rules): ``clv_historical``,
``clv_predicted``, ``clv_expected_purchases``, ``clv_probability_alive``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.analytics import clv
from clientvault.analytics.models import ClvFit
from clientvault.customers.scores import Score, replace_scores
from clientvault.errors import InvalidInput
from clientvault.ingest.commerce.models import Order
from clientvault.store.base import utcnow

MODEL_VERSION = "bgnbd-gg-1"
#: Frequency bins of the calibration chart: 0, 1, ..., 6 and "7+".
CALIBRATION_BINS = 7


@dataclass(frozen=True)
class CustomerHistory:
    """The RFM summary of each customer who bought before the end of the period."""

    customer_ids: list[uuid.UUID]
    summary: clv.RfmSummary
    revenue: np.ndarray


def _purchase_days(
    session: Session, zone: ZoneInfo, last_day: date
) -> dict[uuid.UUID, dict[date, float]]:
    """Each customer's net order value per purchase day, for days up to ``last_day``."""
    days: dict[uuid.UUID, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    rows = session.execute(
        select(Order.customer_id, Order.placed_at, Order.total, Order.refunded_amount).where(
            Order.customer_id.is_not(None), Order.placed_at < day_end(last_day, zone)
        )
    )
    for customer_id, placed_at, total, refunded in rows:
        day = placed_at.astimezone(zone).date()
        assert customer_id is not None  # filtered in the query
        days[customer_id][day] += float(Decimal(total) - Decimal(refunded or 0))
    return days


def history(session: Session, zone: ZoneInfo, last_day: date) -> CustomerHistory:
    """The RFM summary (in days) of every customer with an order on or before ``last_day``,
    the period ending with that day."""
    ids: list[uuid.UUID] = []
    rows: list[tuple[float, float, float, float, float]] = []
    for customer_id, per_day in _purchase_days(session, zone, last_day).items():
        ordered = sorted(per_day)
        first, last = ordered[0], ordered[-1]
        repeat = [per_day[d] for d in ordered[1:]]
        ids.append(customer_id)
        rows.append(
            (
                float(len(ordered) - 1),
                float((last - first).days),
                float((last_day - first).days),
                float(np.mean(repeat)) if repeat else 0.0,
                float(sum(per_day.values())),
            )
        )
    array = np.array(rows, dtype=float).reshape(-1, 5)
    summary = clv.RfmSummary(array[:, 0], array[:, 1], array[:, 2], array[:, 3])
    return CustomerHistory(ids, summary, array[:, 4])


def _calibration_bins(
    session: Session,
    zone: ZoneInfo,
    model: clv.BgNbd,
    calibration: CustomerHistory,
    calibration_end: date,
    observation_end: date,
) -> list[dict[str, Any]]:
    """Mean predicted vs mean actual purchase days in the hold-out period (the days after
    ``calibration_end`` up to ``observation_end``), by the number of repeat purchases in the
    calibration period (Fader, Hardie & Lee 2005, figure 4)."""
    horizon = float((observation_end - calibration_end).days)
    predicted = clv.expected_purchases(model, calibration.summary, horizon)
    holdout_days = _purchase_days(session, zone, observation_end)
    actual = np.array(
        [
            sum(1 for d in holdout_days.get(cid, {}) if d > calibration_end)
            for cid in calibration.customer_ids
        ],
        dtype=float,
    )
    bins = np.minimum(calibration.summary.frequency, CALIBRATION_BINS).astype(int)
    out = []
    for index in range(CALIBRATION_BINS + 1):
        members = bins == index
        if not members.any():
            continue
        out.append(
            {
                "frequency": f"{index}+" if index == CALIBRATION_BINS else str(index),
                "customers": int(members.sum()),
                "predicted": float(predicted[members].mean()),
                "actual": float(actual[members].mean()),
            }
        )
    return out


@dataclass(frozen=True)
class FitReport:
    """What ``analytics clv fit`` prints and the dashboard shows."""

    fit_id: int
    customers: int
    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float] | None
    calibration: list[dict[str, Any]]
    scores_written: int
    calibration_end: date | None
    observation_end: date

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (dates as ISO strings)."""
        data = asdict(self)
        data["calibration_end"] = self.calibration_end.isoformat() if self.calibration_end else None
        data["observation_end"] = self.observation_end.isoformat()
        return data


def fit_and_score(
    session: Session,
    zone: ZoneInfo,
    *,
    calibration_end: date | None = None,
    observation_end: date | None = None,
    horizon_days: int = 365,
) -> FitReport:
    """Fit BG/NBD and Gamma-Gamma on the orders up to ``observation_end`` (today by
    default), or on those up to ``calibration_end`` if given, then check the predictions
    against the orders of the days after it; write each buyer's predictions as customer
    scores and keep the fit; inside the caller's transaction. Days are calendar days of
    ``zone``, both ends included."""
    if not 1 <= horizon_days <= 3650:
        raise InvalidInput("the CLV horizon must be between 1 and 3650 days")
    end = observation_end or utcnow().astimezone(zone).date()
    if calibration_end is not None and calibration_end >= end:
        raise InvalidInput("the calibration end must be before the end of the observation period")
    fit_history = history(session, zone, calibration_end or end)
    model = clv.fit_bgnbd(fit_history.summary)
    try:
        spend: clv.GammaGamma | None = clv.fit_gamma_gamma(fit_history.summary)
    except InvalidInput:
        spend = None  # too few repeat buyers: CLV falls back to historical value per purchase
    bins = (
        _calibration_bins(session, zone, model, fit_history, calibration_end, end)
        if calibration_end is not None
        else []
    )
    full = fit_history if calibration_end is None else history(session, zone, end)
    purchases = clv.expected_purchases(model, full.summary, float(horizon_days))
    alive = clv.probability_alive(model, full.summary)
    if spend is not None:
        value = clv.expected_average_value(spend, full.summary)
    else:
        value = full.revenue / (full.summary.frequency + 1)
    predicted = purchases * value
    written = 0
    for kind, values in (
        ("clv_historical", full.revenue),
        ("clv_predicted", predicted),
        ("clv_expected_purchases", purchases),
        ("clv_probability_alive", alive),
    ):
        written += replace_scores(
            session,
            kind,
            (
                Score(cid, value=round(float(v), 6))
                for cid, v in zip(full.customer_ids, values, strict=True)
            ),
            model_version=MODEL_VERSION,
        )
    bgnbd = {
        "r": model.r,
        "alpha": model.alpha,
        "a": model.a,
        "b": model.b,
        "log_likelihood": model.log_likelihood,
    }
    gg = (
        {
            "p": spend.p,
            "q": spend.q,
            "gamma": spend.gamma,
            "log_likelihood": spend.log_likelihood,
            "customers": float(spend.customers),
        }
        if spend is not None
        else None
    )
    record = ClvFit(
        calibration_end=None if calibration_end is None else day_end(calibration_end, zone),
        observation_end=day_end(end, zone),
        customers=model.customers,
        bgnbd=bgnbd,
        gamma_gamma=gg,
        calibration=bins,
        horizon_days=horizon_days,
    )
    session.add(record)
    session.flush()
    return FitReport(record.id, model.customers, bgnbd, gg, bins, written, calibration_end, end)


def latest_fit(session: Session) -> ClvFit | None:
    """The most recent CLV fit, for the dashboard and the API."""
    return session.scalars(select(ClvFit).order_by(ClvFit.id.desc()).limit(1)).first()


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight of ``day`` in the installation's zone: how a date given on the command line
    or in a URL becomes an instant."""
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """Midnight after ``day`` (an exclusive end)."""
    return day_start(day + timedelta(days=1), zone)

"""Order fraud: a risk score per order from rules and an ``IsolationForest`` anomaly score,
a review queue with the reasons, reviewers' labels, and an alert for high-risk orders.

Rules (each adds to the rule score, with its reason in words):

* velocity: three or more orders by the customer within an hour;
* new identifier: a returning customer pays with a card or orders from a device never seen
  on their earlier orders;
* country mismatch: the country of the buyer's network differs from the shipping country;
* first order of high value: a first order at least three times the median order;
* many cards: three or more cards used by the customer within 24 hours.

The order's context is read from its ``Order Completed`` event: ``properties.card_fingerprint``
(a token, never a card number), ``properties.shipping_country``, ``properties.ip_country``
(or ``context.location.country``) and ``context.device.id``. The ``IsolationForest`` is fitted
on the orders not labelled fraud by a reviewer (labels feed the next training), and its
anomaly is the order's percentile among them. Risk = min(1, rules + 0.3 x anomaly); at
``HIGH_RISK`` or above an order raises a security alert.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from clientvault.customers.scores import Score, put_scores
from clientvault.errors import InvalidInput, NotFound
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.predict.features import ORDER_CUSTOMER
from clientvault.predict.models import OrderRisk
from clientvault.privacy.audiences import audience
from clientvault.security import audit
from clientvault.security.models import Alert
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow

HIGH_RISK = 0.6
RULE_WEIGHTS = {
    "velocity": 0.35,
    "new_identifier": 0.2,
    "country_mismatch": 0.3,
    "first_order_high_value": 0.3,
    "many_cards": 0.35,
}
LABELS = ("fraud", "legitimate")
SCORE_KIND = "fraud_risk"


@dataclass
class _Order:
    id: int
    customer_id: uuid.UUID | None
    placed_at: datetime
    total: float
    card: str | None = None
    device: str | None = None
    ip_country: str | None = None
    ship_country: str | None = None
    reasons: list[str] = field(default_factory=list)
    features: list[float] = field(default_factory=list)


def _text(value: Any) -> str | None:
    return str(value)[:64] if isinstance(value, str | int) and str(value).strip() else None


def _load(session: Session) -> list[_Order]:
    orders = {
        row.id: _Order(row.id, row.customer_id, row.placed_at, float(row.total))
        for row in session.execute(
            select(Order.id, Order.customer_id, Order.placed_at, Order.total, Order.external_id)
        )
    }
    by_external = {
        external: order_id
        for order_id, external in session.execute(select(Order.id, Order.external_id))
    }
    for properties, context in session.execute(
        select(Event.properties, Event.context).where(Event.name == "Order Completed")
    ):
        properties = properties or {}
        order_id = by_external.get(str(properties.get("order_id")))
        if order_id is None:
            continue
        order = orders[order_id]
        context = context or {}
        order.card = _text(properties.get("card_fingerprint"))
        order.ship_country = _text(properties.get("shipping_country"))
        location = context.get("location")
        located = location.get("country") if isinstance(location, dict) else None
        order.ip_country = _text(properties.get("ip_country") or located)
        device = context.get("device")
        order.device = _text(device.get("id")) if isinstance(device, dict) else None
    return sorted(orders.values(), key=lambda o: (o.placed_at, o.id))


def _apply_rules(orders: Sequence[_Order]) -> None:
    median = statistics.median([o.total for o in orders]) if orders else 0.0
    history: dict[uuid.UUID, list[_Order]] = defaultdict(list)
    for order in orders:
        earlier = history[order.customer_id] if order.customer_id else []
        hour = [o for o in earlier if order.placed_at - o.placed_at <= timedelta(hours=1)]
        day_cards = {o.card for o in earlier if order.placed_at - o.placed_at <= timedelta(days=1)}
        day_cards.discard(None)
        if order.card:
            day_cards.add(order.card)
        if len(hour) >= 2:
            order.reasons.append(f"velocity: {len(hour) + 1} orders within an hour")
        if earlier and (
            (order.card and order.card not in {o.card for o in earlier})
            or (order.device and order.device not in {o.device for o in earlier})
        ):
            order.reasons.append("new_identifier: a card or device never seen on earlier orders")
        if order.ip_country and order.ship_country and order.ip_country != order.ship_country:
            order.reasons.append(
                f"country_mismatch: network in {order.ip_country}, shipping to {order.ship_country}"
            )
        if not earlier and median and order.total >= 3 * median:
            ratio = order.total / median
            order.reasons.append(
                f"first_order_high_value: {order.total:.2f} is {ratio:.1f}x the median"
            )
        if len(day_cards) >= 3:
            order.reasons.append(f"many_cards: {len(day_cards)} cards within 24 hours")
        order.features = [
            math.log1p(order.total),
            float(len(hour)),
            float(len(day_cards)),
            0.0 if earlier else 1.0,
            float(order.placed_at.hour),
        ]
        if order.customer_id:
            history[order.customer_id].append(order)


def _rule_score(order: _Order) -> float:
    return min(1.0, sum(RULE_WEIGHTS[reason.split(":", 1)[0]] for reason in order.reasons))


def score_orders(session: Session, *, seed: int = 0) -> int:
    """(Re)score every order: rules, anomaly, review-queue rows (a reviewed order keeps its
    label), customer ``fraud_risk`` scores and alerts for the new high-risk orders; returns
    how many orders were scored."""
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.ensemble import IsolationForest

    orders = _load(session)
    if not orders:
        return 0
    _apply_rules(orders)
    labelled_fraud = set(
        session.scalars(select(OrderRisk.order_id).where(OrderRisk.label == "fraud"))
    )
    matrix = np.array([o.features for o in orders])
    normal = np.array([o.id not in labelled_fraud for o in orders])
    with threadpool_limits(1):
        forest = IsolationForest(n_estimators=100, random_state=seed).fit(
            matrix[normal] if normal.sum() >= 10 else matrix
        )
        abnormal = -forest.score_samples(matrix)
    reference = np.sort(abnormal[normal] if normal.sum() >= 10 else abnormal)
    existing = {r.order_id: r for r in session.scalars(select(OrderRisk))}
    now = utcnow()
    customer_risk: dict[uuid.UUID, float] = defaultdict(float)
    for order, value in zip(orders, abnormal, strict=True):
        anomaly = float(np.searchsorted(reference, value, side="right") / len(reference))
        rules = _rule_score(order)
        score = min(1.0, rules + 0.3 * anomaly)
        row = existing.get(order.id)
        if row is None:
            row = OrderRisk(order_id=order.id, status="open")
            session.add(row)
        was_high = row.score is not None and row.score >= HIGH_RISK
        row.customer_id = order.customer_id
        row.score, row.rule_score, row.anomaly = score, rules, anomaly
        row.reasons = order.reasons
        row.scored_at = now
        if score >= HIGH_RISK and not was_high:
            _alert(session, order, score)
        if order.customer_id:
            customer_risk[order.customer_id] = max(customer_risk[order.customer_id], score)
    allowed = set(
        session.scalars(
            audience(
                session,
                purpose="order_fulfilment",
                customers=select(ORDER_CUSTOMER).where(ORDER_CUSTOMER.is_not(None)),
            )
        )
    )
    put_scores(
        session,
        SCORE_KIND,
        [Score(c, value=v) for c, v in customer_risk.items() if c in allowed],
        model_version="fraud-rules+isolation-forest",
    )
    session.flush()
    return len(orders)


def _alert(session: Session, order: _Order, score: float) -> None:
    key = f"order_fraud:{order.id}"
    if session.scalar(select(Alert.id).where(Alert.dedup_key == key)) is not None:
        return
    rules = [reason.split(":", 1)[0] for reason in order.reasons]
    session.add(
        Alert(
            dedup_key=key,
            kind="order_fraud",
            severity="high",
            status="open",
            subject=f"order:{order.id}",
            actor_kind="system",
            actor_id="predict.fraud",
            window_start=order.placed_at,
            window_end=order.placed_at,
            summary=f"order {order.id} at fraud risk {score:.2f} ({', '.join(rules) or 'anomaly'})"[
                :200
            ],
            evidence={"order_id": order.id, "score": round(score, 4), "rules": rules},
        )
    )


def queue(session: Session, *, status: str = "open", limit: int = 100) -> list[OrderRisk]:
    """The review queue: orders of a status, riskiest first (open ones from the alert line
    down: an order below it needs no review)."""
    if status not in ("open", "reviewed"):
        raise InvalidInput(f"unknown status {status!r}", details={"field": "status"})
    query = select(OrderRisk).where(OrderRisk.status == status)
    if status == "open":
        query = query.where(OrderRisk.score >= HIGH_RISK / 2)
    return list(
        session.scalars(query.order_by(OrderRisk.score.desc(), OrderRisk.order_id).limit(limit))
    )


def label(session: Session, *, order_id: int, label: str, by: Principal) -> OrderRisk:
    """Store a reviewer's verdict (``fraud`` or ``legitimate``); audited."""
    if label not in LABELS:
        raise InvalidInput(f"label must be one of {', '.join(LABELS)}", details={"field": "label"})
    row = session.get(OrderRisk, order_id)
    if row is None:
        raise NotFound("no risk score for this order", details={"order_id": order_id})
    row.label, row.status = label, "reviewed"
    row.reviewed_by, row.reviewed_at = str(by.id), utcnow()
    audit.record(
        session,
        principal=by,
        action="predict.order_labelled",
        target_type="order",
        target_ids=[str(order_id)],
        details={"label": label},
    )
    session.flush()
    return row


@dataclass(frozen=True)
class Detection:
    """How well high-risk orders match a known set of fraudulent ones."""

    flagged: int
    precision: float
    recall: float


def detection(session: Session, fraudulent: set[int]) -> Detection:
    """Precision and recall of the high-risk flag against ``fraudulent`` order ids (the
    demo's planted ground truth, or reviewers' labels)."""
    flagged = set(session.scalars(select(OrderRisk.order_id).where(OrderRisk.score >= HIGH_RISK)))
    hits = len(flagged & fraudulent)
    return Detection(
        flagged=len(flagged),
        precision=hits / len(flagged) if flagged else 0.0,
        recall=hits / len(fraudulent) if fraudulent else 0.0,
    )

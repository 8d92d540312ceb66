"""The demo's predictions: planted order fraud with its ground truth, then the models.

Three customers get a burst of four orders within 40 minutes, each paid with another card
(the burst's third and fourth orders are the pattern), and two customers who never ordered
place a first order of ten times the median, from a network in another country than the
shipping address. The fraud scorer then runs, and its precision and recall against these
planted orders are reported; propensity, churn and the recommender are trained on the demo's
history (a model the minimum-data rules refuse is reported as skipped) and customers are
scored.
"""

from __future__ import annotations

import random
import statistics
import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.predict import fraud
from clientvault.predict.features import ORDER_CUSTOMER
from clientvault.predict.service import TRAINABLE, train
from clientvault.predict.tasks import TASKS, score_task
from clientvault.predict.training import NotEnoughData
from clientvault.settings import Settings
from clientvault.store.context import Store

SEED = 23


def _plant(store: Store) -> set[int]:
    """Write the fraudulent orders (and their ``Order Completed`` events); their ids."""
    rng = random.Random(SEED)
    with store.sessions.begin() as session:
        buyers = sorted(
            set(session.scalars(select(ORDER_CUSTOMER).where(ORDER_CUSTOMER.is_not(None)))),
            key=str,
        )
        totals = [float(t) for t in session.scalars(select(Order.total))]
        last = session.scalar(select(Order.placed_at).order_by(Order.placed_at.desc()).limit(1))
        newcomers = sorted(
            set(session.scalars(select(Customer.id).where(Customer.status == "active")))
            - set(buyers),
            key=str,
        )
    if len(buyers) < 3 or len(newcomers) < 2 or last is None:
        return set()
    median = statistics.median(totals)
    plan: list[tuple[uuid.UUID, int, float, dict[str, str], bool]] = []
    for n, customer in enumerate(rng.sample(buyers, 3)):
        for i in range(4):
            plan.append(
                (customer, 10 * i, median, {"card_fingerprint": f"demo-card-{n}-{i}"}, i >= 2)
            )
    for customer in rng.sample(newcomers, 2):
        mismatch = {"ip_country": "RO", "shipping_country": "FR", "card_fingerprint": "demo-x"}
        plan.append((customer, 0, median * 10, mismatch, True))
    planted: set[int] = set()
    with store.sessions.begin() as session:
        for n, (customer, minutes, total, props, fraudulent) in enumerate(plan):
            at = last + timedelta(hours=1 + n // 4, minutes=minutes)
            external = f"demo-fraud-{n}"
            order_id = session.execute(
                insert(Order).returning(Order.id),
                {
                    "external_id": external,
                    "customer_id": customer,
                    "placed_at": at,
                    "total": Decimal(str(round(total, 2))),
                    "currency": "EUR",
                    "status": "completed",
                    "refunded_amount": Decimal(0),
                },
            ).scalar_one()
            session.execute(
                insert(Event),
                {
                    "message_id": external,
                    "type": "track",
                    "name": "Order Completed",
                    "customer_id": customer,
                    "occurred_at": at,
                    "received_at": at,
                    "source": "demo",
                    "properties": {"order_id": external, "total": round(total, 2), **props},
                    "context": {},
                },
            )
            if fraudulent:
                planted.add(int(order_id))
    return planted


def show_predictions(store: Store, settings: Settings) -> str:
    """Plant fraud, score orders, train and score the models; one line on what happened."""
    planted = _plant(store)
    with store.sessions.begin() as session:
        fraud.score_orders(session)
        found = fraud.detection(session, planted)
    trained = []
    for task in TRAINABLE:
        try:
            with store.sessions.begin() as session:
                row = train(session, task)
                trained.append(f"{task} {row.grade}")
        except NotEnoughData:
            trained.append(f"{task} skipped (not enough data)")
    with store.sessions.begin() as session:
        scored = sum(score_task(session, task) for task in TASKS)
    return (
        f"predictions: {len(planted)} planted fraudulent orders, {found.flagged} flagged "
        f"(precision {found.precision:.2f}, recall {found.recall:.2f}); models: "
        f"{', '.join(trained)}; {scored} customer scores"
    )

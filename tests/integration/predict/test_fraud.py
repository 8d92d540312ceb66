"""Order fraud: planted patterns are found by the rules and the anomaly score, with reasons;
high-risk orders raise one alert each; reviewers' labels are stored and kept on rescoring."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import insert, select

from clientvault.customers.scores import scores_of
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.predict import fraud
from clientvault.predict.models import OrderRisk
from clientvault.security.models import Alert
from clientvault.security.principal import Principal
from clientvault.store.context import Store
from support.predict import END, make_shop
from support.privacy_core import make_customers

REVIEWER = Principal.system("test-fraud-review", "alerts:read")


def _order(store: Store, customer: uuid.UUID, n: int, at, total: float, **props: object) -> int:  # type: ignore[no-untyped-def]
    with store.sessions.begin() as session:
        order_id = session.execute(
            insert(Order).returning(Order.id),
            {
                "external_id": f"planted-{n}",
                "customer_id": customer,
                "placed_at": at,
                "total": total,
                "currency": "EUR",
                "status": "completed",
                "refunded_amount": 0,
            },
        ).scalar_one()
        session.execute(
            insert(Event),
            {
                "message_id": f"planted-{n}",
                "type": "track",
                "name": "Order Completed",
                "customer_id": customer,
                "occurred_at": at,
                "received_at": at,
                "properties": {"order_id": f"planted-{n}", "total": total, **props},
                "context": {},
            },
        )
        return int(order_id)


def test_planted_fraud_is_found_with_reasons_and_alerts(db: Store) -> None:
    shop = make_shop(db, customers=80, days=120)
    burst = shop.customers[15]
    [newcomer] = make_customers(db, CustomerCreate(country="FR"))
    at = END + timedelta(days=1)
    # Velocity and many cards: four orders in 40 minutes, each with another card. The first
    # two look like any order until the burst forms: the third and fourth are the pattern.
    burst_orders = [
        _order(
            db,
            burst,
            100 + i,
            at + timedelta(minutes=10 * i),
            90.0,
            card_fingerprint=f"card-{i}",
            ip_country="FR",
            shipping_country="FR",
        )
        for i in range(4)
    ]
    planted = {
        *burst_orders[2:],
        # A brand-new customer's first order, very large, shipped abroad from another network.
        _order(
            db,
            newcomer,
            200,
            at,
            2500.0,
            ip_country="RO",
            shipping_country="FR",
            card_fingerprint="card-x",
        ),
    }
    with db.sessions.begin() as session:
        assert fraud.score_orders(session) > 100
    with db.sessions() as session:
        found = fraud.detection(session, planted)
        queue = fraud.queue(session)
        reasons = {r.order_id: r.reasons for r in queue}
        alerts = session.scalars(select(Alert).where(Alert.kind == "order_fraud")).all()
        risk = {s.kind: s.value for s in scores_of(session, burst)}
    assert found.recall == 1.0, found
    assert found.precision >= 0.75, found
    last_burst = burst_orders[-1]
    assert any(r.startswith("velocity") for r in reasons[last_burst])
    assert any(r.startswith("many_cards") for r in reasons[last_burst])
    big = max(planted)
    assert any(r.startswith("country_mismatch") for r in reasons[big])
    assert any(r.startswith("first_order_high_value") for r in reasons[big])
    assert {a.subject for a in alerts} >= {f"order:{big}", f"order:{last_burst}"}
    assert risk["fraud_risk"] >= fraud.HIGH_RISK
    # A reviewer's label is kept; rescoring raises no second alert for the same order.
    with db.sessions.begin() as session:
        fraud.label(session, order_id=big, label="fraud", by=REVIEWER)
    with db.sessions.begin() as session:
        fraud.score_orders(session)
    with db.sessions() as session:
        row = session.get(OrderRisk, big)
        assert row is not None
        assert (row.label, row.status) == ("fraud", "reviewed")
        assert len(session.scalars(select(Alert).where(Alert.kind == "order_fraud")).all()) == len(
            alerts
        )

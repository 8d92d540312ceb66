"""Recommendations for the shop's customers: trained on purchases of customers allowing
personalisation, never a product already bought (unless consumable) nor out of stock, and
none at all for customers without consent, restricted or erased."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from clientvault.errors import NotFound
from clientvault.ingest.commerce.models import Order, OrderItem
from clientvault.predict.personal import recommendations_for, set_product_flags, train_recommender
from clientvault.privacy.consent import record_restriction
from clientvault.privacy.erasure import erase_customer
from clientvault.store.context import Store
from support.predict import grant, make_shop
from support.privacy_core import DPO


def test_recommendations_respect_purchases_stock_and_privacy(db: Store) -> None:
    shop = make_shop(db, customers=60, days=120)
    allowed = shop.customers[:50]
    grant(db, allowed, "personalisation")
    with db.sessions.begin() as session:
        model = train_recommender(session)
    assert model.status == "promoted"
    assert set(model.metrics) == {"model", "popularity"}
    assert "precision_at_10" in model.metrics["model"]
    with db.sessions() as session:
        buyer = session.scalars(
            select(Order.customer_id).where(Order.customer_id.in_(allowed)).limit(1)
        ).one()
        bought = set(
            session.scalars(
                select(OrderItem.product_id)
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.customer_id == buyer)
            )
        )
        first = recommendations_for(session, buyer, k=5)
    assert first.allowed
    assert first.model_version == model.version
    assert first.items
    assert not bought & {i.product_id for i in first.items}
    top = first.items[0].product_id
    with db.sessions.begin() as session:
        set_product_flags(session, top, in_stock=False)
        consumable = next(iter(bought))
        set_product_flags(session, consumable, consumable=True)
    with db.sessions() as session:
        again = recommendations_for(session, buyer, k=12)
    ids = {i.product_id for i in again.items}
    assert top not in ids
    assert not (bought - {consumable}) & ids

    # No consent, a restriction, an erasure: no recommendations at all.
    restricted, erased = allowed[1], allowed[2]
    with db.sessions.begin() as session:
        record_restriction(session, customer_id=restricted, channel="web")
        erase_customer(session, db, customer_id=erased, principal=DPO, reason="test")
    with db.sessions() as session:
        for nobody in (shop.customers[55], restricted):
            result = recommendations_for(session, nobody, k=5)
            assert not result.allowed
            assert result.items == []
        # The erased profile is gone: as unknown as an id nobody had.
        for gone in (erased, uuid.uuid4()):
            with pytest.raises(NotFound):
                recommendations_for(session, gone, k=5)

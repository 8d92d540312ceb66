"""Point-in-time features: values as of a cut-off, and the leakage guard."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from clientvault.ingest.commerce.models import Order
from clientvault.predict.features import (
    SOURCES,
    LeakageError,
    SourceResult,
    build_features,
)
from clientvault.store.context import Store
from support.predict import END, make_shop


def test_features_as_of_a_cut_off_ignore_later_orders(db: Store) -> None:
    shop = make_shop(db, customers=40, days=200)
    cut = END - timedelta(days=60)
    with db.sessions() as session:
        frame = build_features(session, as_of=cut, customers=shop.customers)
        # Recompute frequency and recency of a few customers by hand, from orders before the cut.
        for customer_id in shop.customers[:15]:
            count, last = session.execute(
                select(func.count(), func.max(Order.placed_at)).where(
                    Order.customer_id == customer_id, Order.placed_at < cut
                )
            ).one()
            row = frame.customer_ids.index(customer_id)
            assert frame.column("frequency")[row] == count
            if last is None:
                assert math.isnan(frame.column("recency_days")[row])
            else:
                assert frame.column("recency_days")[row] == pytest.approx(
                    (cut - last).total_seconds() / 86400
                )
        later = build_features(session, as_of=END, customers=shop.customers)
    # More orders happened between the cut and the end: the later frame counts them.
    assert later.column("frequency").sum() > frame.column("frequency").sum()
    assert {"sessions_30d", "support_tickets_180d", "csat_mean", "top_category_share"} <= set(
        frame.names
    )
    assert any(name.startswith("category_share:") for name in frame.names)


def test_a_feature_reading_after_the_cut_off_fails(db: Store) -> None:
    shop = make_shop(db, customers=20, days=120)
    cut = END - timedelta(days=30)

    def peeking(session, as_of):  # type: ignore[no-untyped-def]
        # A buggy feature: counts every order, forgetting the cut-off.
        result = SourceResult()
        for customer_id, count, last in session.execute(
            select(Order.customer_id, func.count(), func.max(Order.placed_at)).group_by(
                Order.customer_id
            )
        ):
            result.saw(last)
            result.columns.setdefault("all_orders", {})[customer_id] = float(count)
        return result

    with db.sessions() as session:
        build_features(session, as_of=cut, customers=shop.customers)  # the real ones pass
        with pytest.raises(LeakageError, match="peeking"):
            build_features(
                session,
                as_of=cut,
                customers=shop.customers,
                sources=(*SOURCES, ("peeking", peeking)),
            )


def test_features_read_in_batches_equal_those_read_at_once(db: Store) -> None:
    # Each batch reads only its range of customer ids; the frame must not depend on the batch
    # size (the category-share columns are chosen across every customer, not per batch).
    shop = make_shop(db, customers=60, days=200)
    cut = END - timedelta(days=30)
    with db.sessions() as session:
        whole = build_features(session, as_of=cut, customers=shop.customers, batch=10_000)
        pieces = build_features(session, as_of=cut, customers=shop.customers, batch=7)
        named = build_features(
            session, as_of=cut, customers=shop.customers, names=whole.names, batch=5
        )
    assert pieces.names == whole.names == named.names
    assert pieces.customer_ids == whole.customer_ids == sorted(shop.customers)
    np.testing.assert_array_equal(pieces.matrix, whole.matrix)
    np.testing.assert_array_equal(named.matrix, whole.matrix)
    assert any(name.startswith("category_share:") for name in whole.names)
    assert whole.column("frequency").sum() > 0

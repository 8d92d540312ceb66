"""Recommendations for the shop's customers: training the recommender on their orders,
registering it, and answering "what should this customer see next".

Only customers in the ``personalisation`` audience (consent granted, no restriction, not
erased, not merged away) are learnt from and recommended to; anyone else gets no
recommendation at all (``allowed`` is false), whatever the caller. Stock and consumability
come from ``predict_product_flags``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound, Unavailable
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order, OrderItem, Product
from clientvault.predict import recommend as rec
from clientvault.predict import registry
from clientvault.predict.models import PredictModel, ProductFlags
from clientvault.predict.training import NotEnoughData
from clientvault.privacy.audiences import allows, audience
from clientvault.store.base import utcnow

if TYPE_CHECKING:
    import scipy.sparse as sp

TASK = "recommend"
PURPOSE = "personalisation"
#: Fewest customers and products a recommender is trained on.
MIN_CUSTOMERS = 20
MIN_PRODUCTS = 5


@dataclass
class ShopRecommender:
    """A fitted recommender with the customers and products its rows and columns stand for."""

    model: rec.Recommender
    customers: dict[uuid.UUID, int]
    products: list[int]


@dataclass(frozen=True)
class RecommendedProduct:
    """One product recommended to a customer."""

    product_id: int
    sku: str
    name: str
    category: str | None
    score: float
    reason: str


@dataclass(frozen=True)
class CustomerRecommendations:
    """A customer's recommendations and whether they may be personalised at all."""

    customer_id: uuid.UUID
    allowed: bool
    model_version: str | None
    items: list[RecommendedProduct]


def _allowed(session: Session, customer_ids: Any) -> Any:
    return audience(session, purpose=PURPOSE, customers=customer_ids)


def _interactions(
    session: Session,
) -> tuple[sp.csr_matrix, sp.csr_matrix, list[uuid.UUID], list[int]]:
    # Imported here, not at module level: the CLI and the API start without scipy.
    import scipy.sparse as sp

    people = _allowed(session, select(Customer.id)).subquery()
    rows = session.execute(
        select(Order.id, Order.customer_id, OrderItem.product_id, OrderItem.quantity)
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(Order.customer_id.in_(select(people.c.id)))
        .order_by(Order.id)
    ).all()
    customers = sorted({r.customer_id for r in rows})
    products = sorted({r.product_id for r in rows})
    c_index = {c: i for i, c in enumerate(customers)}
    p_index = {p: i for i, p in enumerate(products)}
    orders = sorted({r.id for r in rows})
    o_index = {o: i for i, o in enumerate(orders)}
    cols = [p_index[r.product_id] for r in rows]
    user_items = sp.csr_matrix(
        ([1.0] * len(rows), ([c_index[r.customer_id] for r in rows], cols)),
        shape=(len(customers), len(products)),
    )
    baskets = sp.csr_matrix(
        ([1.0] * len(rows), ([o_index[r.id] for r in rows], cols)),
        shape=(len(orders), len(products)),
    )
    return user_items, baskets, customers, products


def _grade(ours: float, baseline: float) -> str:
    if baseline <= 0:
        return "A" if ours > 0 else "D"
    ratio = ours / baseline
    return "A" if ratio >= 2 else "B" if ratio >= 1.2 else "C" if ratio > 1 else "D"


def train_recommender(session: Session, *, seed: int = 42) -> PredictModel:
    """Evaluate on a seeded 80/20 split of the purchases (against popularity), then fit on
    all of them and register and promote the result (the recommender is always refitted on
    the newest purchases; its hold-out figures are kept with it)."""
    # Imported here, not at module level: the CLI and the API start without scipy and implicit.
    import scipy.sparse as sp
    from implicit.evaluation import train_test_split

    user_items, baskets, customers, products = _interactions(session)
    if len(customers) < MIN_CUSTOMERS or len(products) < MIN_PRODUCTS:
        raise NotEnoughData(
            f"recommend: {len(customers)} customers and {len(products)} products with "
            f"purchases allowing personalisation; at least {MIN_CUSTOMERS} and {MIN_PRODUCTS}"
        )
    binary = sp.csr_matrix((user_items > 0).astype(np.float64))
    train, test = (sp.csr_matrix(m) for m in train_test_split(binary, 0.8, random_state=seed))
    started = time.perf_counter()
    held = rec.fit(train)
    ours = rec.evaluate(rec.scorer(held), train, test)
    popular = rec.evaluate(rec.popularity_scorer(held), train, test)
    model = rec.fit(user_items, baskets=baskets)
    seconds = time.perf_counter() - started
    shop = ShopRecommender(model, {c: i for i, c in enumerate(customers)}, products)
    return register_recommender(
        session,
        shop,
        training_rows=int(train.nnz),
        holdout_rows=int(test.nnz),
        metrics={"model": ours.as_dict(), "popularity": popular.as_dict()},
        seconds=seconds,
        grade=_grade(ours.precision, popular.precision),
    )


def register_recommender(
    session: Session,
    shop: ShopRecommender,
    *,
    training_rows: int,
    holdout_rows: int,
    metrics: dict[str, Any],
    seconds: float,
    grade: str,
) -> PredictModel:
    """Register a fitted recommender with its hold-out figures and make it the current one."""
    at = utcnow()
    row = PredictModel(
        task=TASK,
        version=registry.new_version(TASK, at),
        status="candidate",
        algorithm="implicit_als+item_cosine+bought_together+popularity",
        trained_at=at,
        train_cutoff=None,
        holdout_cutoff=None,
        window_days=0,
        training_rows=training_rows,
        holdout_rows=holdout_rows,
        features=[],
        metrics=metrics,
        importances=[],
        reliability=[],
        training_seconds=seconds,
        code_version=registry.code_version(),
        grade=grade,
        note="",
        artifact=registry.dump(shop),
    )
    session.add(row)
    session.flush()
    registry.make_current(session, row)
    return row


@dataclass(frozen=True)
class _Loaded:
    """The current recommender unpickled, with its products' column numbers."""

    shop: ShopRecommender
    index: dict[int, int]


_LOADED: dict[str, _Loaded] = {}


def _current(session: Session) -> tuple[PredictModel, _Loaded]:
    row = registry.current_model(session, TASK)
    if row is None:
        raise Unavailable(
            "no recommender is trained yet: run `clientvault predict train recommend`"
        )
    if row.version not in _LOADED:
        _LOADED.clear()
        shop: ShopRecommender = registry.load(row)
        _LOADED[row.version] = _Loaded(shop, {p: i for i, p in enumerate(shop.products)})
    return row, _LOADED[row.version]


def recommendations_for(
    session: Session, customer_id: uuid.UUID, *, k: int = 10
) -> CustomerRecommendations:
    """Up to ``k`` products for the customer, or none if their data may not be used for
    personalisation (``allowed`` false)."""
    if not 1 <= k <= 100:
        raise InvalidInput("k must be between 1 and 100", details={"field": "k"})
    if session.get(Customer, customer_id) is None:
        raise NotFound("no such customer")
    if not allows(session, customer_id, purpose=PURPOSE):
        return CustomerRecommendations(customer_id, False, None, [])
    row, loaded = _current(session)
    shop, index = loaded.shop, loaded.index
    flags = session.execute(
        select(ProductFlags.product_id, ProductFlags.in_stock, ProductFlags.consumable)
    ).all()
    last_order = session.scalar(
        select(Order.id)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(1)
    )
    just_bought = (
        list(session.scalars(select(OrderItem.product_id).where(OrderItem.order_id == last_order)))
        if last_order is not None
        else []
    )
    picked = rec.recommend(
        shop.model,
        shop.customers.get(customer_id),
        k=k,
        just_bought=[index[p] for p in just_bought if p in index],
        consumable=[index[f.product_id] for f in flags if f.consumable and f.product_id in index],
        unavailable=[
            index[f.product_id] for f in flags if not f.in_stock and f.product_id in index
        ],
    )
    # A product bought by this customer but unknown to the model (new since training) is
    # still not recommended: only the model's products can be, and those are checked above.
    ids = [shop.products[r.item] for r in picked]
    catalogue = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}
    items = [
        RecommendedProduct(
            product_id=pid,
            sku=catalogue[pid].sku,
            name=catalogue[pid].name,
            category=catalogue[pid].category,
            score=r.score,
            reason=r.reason,
        )
        for pid, r in zip(ids, picked, strict=True)
        if pid in catalogue
    ]
    return CustomerRecommendations(customer_id, True, row.version, items)


def set_product_flags(
    session: Session,
    product_id: int,
    *,
    in_stock: bool | None = None,
    consumable: bool | None = None,
) -> ProductFlags:
    """Mark a product in or out of stock, consumable or not."""
    if session.get(Product, product_id) is None:
        raise NotFound("no such product", details={"product_id": product_id})
    flags = session.get(ProductFlags, product_id)
    if flags is None:
        flags = ProductFlags(product_id=product_id, in_stock=True, consumable=False)
        session.add(flags)
    if in_stock is not None:
        flags.in_stock = in_stock
    if consumable is not None:
        flags.consumable = consumable
    flags.updated_at = utcnow()
    session.flush()
    return flags

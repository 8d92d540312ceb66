"""Next best offer: which of the shop's offers to put in front of one customer now.

Each eligible offer gets an expected value and the highest come first::

    value = propensity * relevance * margin * fatigue

- *propensity*: the customer's ``purchase_propensity`` score (the predict domain's model), or
  0.5 when no model has scored them — an unscored customer is neither favoured nor dropped;
- *relevance*: for a product, its place in the customer's recommendations (1 for the first,
  decreasing as 1/(1 + rank)), 0.05 when not recommended; for a category, the best of its
  recommended products; for a discount, the customer's ``churn_probability`` (a discount is
  worth most to someone about to leave), else 0.3; for content, 0.3;
- *margin*: the share of the price the shop keeps, as entered with the offer;
- *fatigue*: 1 / (1 + marketing e-mails sent to the customer in the last 7 days) *
  1 / (1 + times this offer was shown to them in the last 7 days), so a customer who was just
  e-mailed, or keeps seeing the same banner, is pressed less.

An offer is eligible only if it is active, the customer is in its purpose's audience (consent,
objection, restriction and erasure are checked by ``privacy.audiences``), meets its score
condition if it has one, and — for a product — the product is in stock and not just bought
(unless consumable); anyone outside the ``personalisation`` audience gets no offer at all,
since ranking reads their profile. A hand-written ranking rather than a learnt one: it needs
no accepted-offer history, which a new installation does not have, and every factor can be
explained to the customer who asks why they saw an offer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.automation.journeys.models import JourneyEmail
from clientvault.automation.personalize.models import Offer
from clientvault.customers.scores import scores_of
from clientvault.errors import Conflict, InvalidInput, NotFound, Unavailable, validated
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order, OrderItem, Product
from clientvault.ingest.models import Event
from clientvault.predict.models import ProductFlags
from clientvault.predict.personal import recommendations_for
from clientvault.privacy.audiences import allows
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow

PURPOSE = "personalisation"
FATIGUE_DAYS = 7
NEUTRAL_PROPENSITY = 0.5
NOT_RECOMMENDED = 0.05
BASE_RELEVANCE = 0.3
SHOWN_EVENT = "Content Shown"


class EligibleScore(BaseModel):
    """Offer only to customers whose latest score of ``kind`` has ``label``."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=64)


class OfferSpec(BaseModel):
    """An offer as written by the API, the CLI and the console."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    kind: Literal["product", "category", "content", "discount"]
    title: str = Field(min_length=1, max_length=200)
    target: str | None = Field(default=None, max_length=200)
    margin: float = Field(gt=0, le=1)
    purpose: str = Field(default="personalisation", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    eligible: EligibleScore | None = None
    link: HttpUrl | None = None
    active: bool = True

    @model_validator(mode="after")
    def _target_named(self) -> OfferSpec:
        if self.kind in ("product", "category") and not self.target:
            what = "SKU" if self.kind == "product" else "category"
            raise ValueError(f"a {self.kind} offer names its {what} in target")
        return self


def read_offer(document: object) -> OfferSpec:
    """An offer document checked, or ``InvalidInput`` naming the faulty field."""
    return validated(OfferSpec, document, what="offer")


def save_offer(session: Session, spec: OfferSpec, *, create: bool, by: Principal) -> Offer:
    """Create an offer (``create``) or replace an existing one; a product offer's SKU must
    be in the catalogue. Audited."""
    if (
        spec.kind == "product"
        and session.scalar(select(Product.id).where(Product.sku == spec.target)) is None
    ):
        raise InvalidInput(
            f"target: no product has SKU {spec.target!r}", details={"field": "target"}
        )
    offer = session.scalar(select(Offer).where(Offer.key == spec.key))
    if create and offer is not None:
        raise Conflict(f"an offer is already called {spec.key!r}")
    if not create and offer is None:
        raise NotFound(f"no offer is called {spec.key!r}")
    if offer is None:
        offer = Offer(key=spec.key)
        session.add(offer)
    values = spec.model_dump(mode="json")
    for name in ("kind", "title", "target", "margin", "purpose", "eligible", "link", "active"):
        setattr(offer, name, values[name])
    session.flush()
    _audit(session, by, f"offer.{'created' if create else 'updated'}", spec.key, "offer")
    return offer


def _audit(session: Session, by: Principal, action: str, target: str, kind: str) -> None:
    audit.record(session, principal=by, action=action, target_type=kind, target_ids=[target])


def list_offers(session: Session) -> list[Offer]:
    """Every offer, by key."""
    return list(session.scalars(select(Offer).order_by(Offer.key)))


def delete_offer(session: Session, key: str, *, by: Principal) -> None:
    """Remove an offer; audited."""
    offer = session.scalar(select(Offer).where(Offer.key == key))
    if offer is None:
        raise NotFound(f"no offer is called {key!r}")
    session.delete(offer)
    session.flush()
    _audit(session, by, "offer.deleted", key, "offer")


@dataclass(frozen=True)
class RankedOffer:
    """An offer for one customer with its expected value and the factors behind it."""

    key: str
    kind: str
    title: str
    link: str | None
    value: float
    factors: dict[str, float]


def _in_audience(session: Session, customer_id: uuid.UUID, purpose: str) -> bool:
    try:
        return allows(session, customer_id, purpose=purpose)
    except NotFound:  # an offer naming a purpose since removed: offered to nobody
        return False


def _recent(session: Session, customer_id: uuid.UUID) -> tuple[int, dict[str, int]]:
    """Marketing e-mails sent in the fatigue window, and times each offer was shown."""
    since = utcnow() - timedelta(days=FATIGUE_DAYS)
    emails = session.scalar(
        select(func.count())
        .select_from(JourneyEmail)
        .where(JourneyEmail.customer_id == customer_id, JourneyEmail.created_at >= since)
    )
    shown: dict[str, int] = {}
    for properties in session.scalars(
        select(Event.properties).where(
            Event.customer_id == customer_id,
            Event.name == SHOWN_EVENT,
            Event.occurred_at >= since,
        )
    ):
        offer = properties.get("offer") if isinstance(properties, dict) else None
        if isinstance(offer, str):
            shown[offer] = shown.get(offer, 0) + 1
    return int(emails or 0), shown


def _unavailable_skus(session: Session, customer_id: uuid.UUID) -> set[str]:
    """Products out of stock, and those of the customer's last order unless consumable."""
    out = set(
        session.scalars(
            select(Product.sku)
            .join(ProductFlags, ProductFlags.product_id == Product.id)
            .where(ProductFlags.in_stock.is_(False))
        )
    )
    last_order = (
        select(Order.id)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    bought = session.scalars(
        select(Product.sku)
        .join(OrderItem, OrderItem.product_id == Product.id)
        .outerjoin(ProductFlags, ProductFlags.product_id == Product.id)
        .where(OrderItem.order_id == last_order, ProductFlags.consumable.is_not(True))
    )
    return out | set(bought)


def _relevance(
    offer: Offer, ranks: dict[str, int], categories: dict[str, int], churn: float | None
) -> float:
    if offer.kind == "product":
        rank = ranks.get(offer.target or "")
    elif offer.kind == "category":
        rank = categories.get(offer.target or "")
    elif offer.kind == "discount":
        return churn if churn is not None else BASE_RELEVANCE
    else:
        return BASE_RELEVANCE
    return 1.0 / (1 + rank) if rank is not None else NOT_RECOMMENDED


def next_best_offers(session: Session, customer_id: uuid.UUID, *, k: int = 3) -> list[RankedOffer]:
    """Up to ``k`` offers for the customer, best first (see the module docstring); none for
    a customer outside the ``personalisation`` audience."""
    if not 1 <= k <= 50:
        raise InvalidInput("k must be between 1 and 50", details={"field": "k"})
    if session.get(Customer, customer_id) is None:
        raise NotFound("no such customer")
    candidates = [o for o in list_offers(session) if o.active]
    if not candidates or not _in_audience(session, customer_id, PURPOSE):
        return []
    scores = {s.kind: s for s in scores_of(session, customer_id)}
    propensity = scores.get("purchase_propensity")
    churn = scores.get("churn_probability")
    p = propensity.value if propensity and propensity.value is not None else NEUTRAL_PROPENSITY
    try:
        recommended = recommendations_for(session, customer_id, k=20).items
    except Unavailable:  # no recommender trained yet: relevance from the offers alone
        recommended = []
    ranks = {item.sku: rank for rank, item in enumerate(recommended)}
    categories: dict[str, int] = {}
    for rank, item in enumerate(recommended):
        if item.category is not None:
            categories.setdefault(item.category, rank)
    emails, shown = _recent(session, customer_id)
    unavailable = _unavailable_skus(session, customer_id)
    ranked: list[RankedOffer] = []
    purposes = {PURPOSE: True}
    for offer in candidates:
        if offer.kind == "product" and offer.target in unavailable:
            continue
        condition: dict[str, Any] | None = offer.eligible
        if condition is not None:
            score = scores.get(str(condition.get("kind")))
            if score is None or score.label != condition.get("label"):
                continue
        if offer.purpose not in purposes:
            purposes[offer.purpose] = _in_audience(session, customer_id, offer.purpose)
        if not purposes[offer.purpose]:
            continue
        relevance = _relevance(offer, ranks, categories, churn.value if churn else None)
        fatigue = 1.0 / (1 + emails) / (1 + shown.get(offer.key, 0))
        factors = {
            "propensity": round(p, 4),
            "relevance": round(relevance, 4),
            "margin": offer.margin,
            "fatigue": round(fatigue, 4),
        }
        ranked.append(
            RankedOffer(
                offer.key,
                offer.kind,
                offer.title,
                offer.link,
                p * relevance * offer.margin * fatigue,
                factors,
            )
        )
    ranked.sort(key=lambda o: (-o.value, o.key))
    return ranked[:k]


def offers_read(
    session: Session, customer_id: uuid.UUID, *, k: int, by: Principal
) -> list[RankedOffer]:
    """``next_best_offers`` for a staff member or API client, audited as a read of the
    customer's profile (the ranking is derived from it)."""
    ranked = next_best_offers(session, customer_id, k=k)
    _audit(session, by, "personalize.offers_read", str(customer_id), "customer")
    return ranked

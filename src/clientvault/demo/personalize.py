"""The demo's personalisation: a ``homepage-hero`` content slot (champions, at-risk
customers, recommendations, the default) and a few offers, so the console's Personalisation
page, the next best offers and ``clientvault.personalize('homepage-hero')`` on a page with
the snippet all show something."""

from __future__ import annotations

from sqlalchemy import func, select

from clientvault.automation.personalize import offers, slots
from clientvault.customers.scores import CustomerScore
from clientvault.ingest.commerce.models import OrderItem, Product
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store

DEMO = Principal.system("demo", "campaigns:manage")
HERO = {
    "key": "homepage-hero",
    "description": "The banner at the top of the home page.",
    "default": {"headline": "New season, new trails", "body": "Discover this week's arrivals."},
    "variants": [
        {
            "name": "champions",
            "when": {"kind": "score", "score": "rfm_group", "label": "champions"},
            "content": {"headline": "Early access for our best customers", "body": ""},
        },
        {
            "name": "win-back",
            "when": {"kind": "score", "score": "rfm_group", "label": "at_risk"},
            "content": {"headline": "We miss you: {offer}", "body": ""},
        },
        {
            "name": "recommended",
            "when": {"kind": "recommendation"},
            "content": {"headline": "Picked for you: {product}", "body": ""},
        },
    ],
}


def seed_personalisation(store: Store, settings: Settings) -> str:
    """Create the demo's content slot and offers (once); the line says what was made."""
    with store.sessions.begin() as session:
        if slots.list_slots(session):
            return "Personalisation: slots exist already."
        slots.save_slot(session, slots.read_spec(HERO), create=True, by=DEMO)
        best_seller = session.scalar(
            select(Product.sku, func.count(OrderItem.id).label("sold"))
            .join(OrderItem, OrderItem.product_id == Product.id)
            .group_by(Product.sku)
            .order_by(func.count(OrderItem.id).desc(), Product.sku)
            .limit(1)
        )
        documents: list[dict[str, object]] = [
            {
                "key": "win-back-10",
                "kind": "discount",
                "title": "10% off your next order",
                "margin": 0.25,
                "eligible": {"kind": "rfm_group", "label": "at_risk"},
            },
            {
                "key": "trail-guide",
                "kind": "content",
                "title": "Our trail running guide",
                "margin": 0.05,
            },
        ]
        if best_seller is not None:
            documents.append(
                {
                    "key": "best-seller",
                    "kind": "product",
                    "title": "This season's best seller",
                    "target": best_seller,
                    "margin": 0.4,
                }
            )
        for document in documents:
            offers.save_offer(session, offers.read_offer(document), create=True, by=DEMO)
        scored = session.scalar(
            select(func.count()).select_from(CustomerScore).where(CustomerScore.kind == "rfm_group")
        )
    return (
        f"Personalisation: slot 'homepage-hero' (3 variants; {scored or 0} customers have an "
        f"RFM group) and {len(documents)} offers."
    )

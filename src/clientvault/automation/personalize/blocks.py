"""The recommendations block of marketing e-mails: a customer's top products and next best
offers as plain values for the sandboxed template (``{% for p in recommendations %}``,
``{% for o in offers %}``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from clientvault.automation.personalize.offers import next_best_offers
from clientvault.errors import Unavailable
from clientvault.predict.personal import recommendations_for

#: How many products and offers a block holds.
PRODUCTS = 3
OFFERS = 2
#: What a template preview shows in the block (no customer is read for a preview).
SAMPLE_BLOCKS: dict[str, list[dict[str, Any]]] = {
    "recommendations": [{"name": "Trail running shoes", "sku": "SAMPLE-1", "category": "shoes"}],
    "offers": [
        {"key": "sample", "title": "10% off your next order", "link": "https://example.invalid/"}
    ],
}


def email_blocks(session: Session, customer_id: uuid.UUID, *, sources: str) -> dict[str, Any]:
    """The customer's top products and next best offers for a template whose text is
    ``sources``: each block is read only when the template names it (a campaign to many
    customers does not rank offers nobody shows), and is empty for a customer outside the
    ``personalisation`` audience (each reader checks it) or when no recommender is trained."""
    products: list[dict[str, Any]] = []
    if "recommendations" in sources:
        try:
            items = recommendations_for(session, customer_id, k=PRODUCTS).items
        except Unavailable:
            items = []
        products = [{"name": i.name, "sku": i.sku, "category": i.category} for i in items]
    ranked = next_best_offers(session, customer_id, k=OFFERS) if "offers" in sources else []
    return {
        "recommendations": products,
        "offers": [{"key": o.key, "title": o.title, "link": o.link} for o in ranked],
    }

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

#: What a template preview shows in the block (no customer is read for a preview).
SAMPLE_BLOCKS: dict[str, list[dict[str, Any]]] = {
    "recommendations": [{"name": "Trail running shoes", "sku": "SAMPLE-1", "category": "shoes"}],
    "offers": [
        {"key": "sample", "title": "10% off your next order", "link": "https://example.invalid/"}
    ],
}


def email_blocks(
    session: Session, customer_id: uuid.UUID, *, products: int = 3, offers: int = 2
) -> dict[str, list[dict[str, Any]]]:
    """The customer's top ``products`` and ``offers``, both empty for a customer outside the
    ``personalisation`` audience (each reader checks it) or when no recommender is trained."""
    try:
        items = recommendations_for(session, customer_id, k=products).items
    except Unavailable:
        items = []
    return {
        "recommendations": [{"name": i.name, "sku": i.sku, "category": i.category} for i in items],
        "offers": [
            {"key": o.key, "title": o.title, "link": o.link}
            for o in next_best_offers(session, customer_id, k=offers)
        ],
    }

"""The demo's segments: a few saved segments over the generated data, and the RFM groups and
personas computed, so the segment pages, the builder's pickers and score conditions have
something to show."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from clientvault.security.principal import Principal
from clientvault.segments.models import Segment
from clientvault.segments.personas import compute_personas
from clientvault.segments.rfm import compute_rfm
from clientvault.segments.service import SegmentIn, save_segment
from clientvault.settings import Settings
from clientvault.store.context import Store

DEMO_PRINCIPAL = Principal.system("demo", "segments:manage")

SEGMENTS: tuple[dict[str, Any], ...] = (
    {
        "slug": "fr-be-young-buyers",
        "name": "FR/BE 25-40, repeat buyers",
        "description": "France or Belgium, aged 25-40, 2+ orders in 90 days, spent over 100.",
        "rules": {
            "all": [
                {"type": "attribute", "field": "country", "values": ["FR", "BE"]},
                {"type": "age", "min": 25, "max": 40},
                {
                    "type": "orders",
                    "metric": "order_count",
                    "op": "gte",
                    "value": 2,
                    "window": {"last_days": 90},
                },
                {"type": "orders", "metric": "total_spent", "op": "gt", "value": 100},
            ]
        },
    },
    {
        "slug": "cart-abandoners",
        "name": "Cart abandoners",
        "description": "Added a product in the last 7 days, no order within 2 hours after.",
        "rules": {
            "type": "sequence",
            "first": {"name": "Product Added"},
            "then_not": {"name": "Order Completed"},
            "within": {"hours": 2},
            "window": {"last_days": 7},
        },
    },
    {
        "slug": "outdoor-e-mailable",
        "name": "Outdoor fans who accept e-mail",
        "rules": {
            "all": [
                {"type": "trait", "key": "interests", "op": "contains", "value": "outdoor"},
                {"type": "consent", "purpose": "marketing_email"},
            ]
        },
    },
    {
        "slug": "champions",
        "name": "Champions and loyal customers",
        "rules": {"type": "score", "kind": "rfm_group", "labels": ["champions", "loyal"]},
    },
)


def showcase(store: Store, settings: Settings) -> str:
    """Compute RFM groups and personas, then save the demo segments (evaluated at once)."""
    rfm = compute_rfm(store, zone=settings.zone)
    personas = compute_personas(store)
    sizes = []
    with store.sessions.begin() as session:
        for document in SEGMENTS:
            known = session.scalar(select(Segment.id).where(Segment.slug == document["slug"]))
            segment = save_segment(
                session,
                SegmentIn.model_validate(document),
                principal=DEMO_PRINCIPAL,
                zone=settings.timezone,
                replace=known is not None,  # a demo run again on the same data
            )
            sizes.append(f"{segment.slug} {segment.size}")
    return (
        f"segments: {len(sizes)} saved ({', '.join(sizes)}); RFM groups for {rfm} customers; "
        f"{personas.k} personas"
    )

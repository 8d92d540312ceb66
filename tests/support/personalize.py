"""Helpers for the personalisation tests: a content slot and visitors tied to the snippet's
anonymous ids."""

from __future__ import annotations

import uuid
from typing import Any

from clientvault.ingest.tracking import ingest
from clientvault.security.principal import Principal
from clientvault.store.context import Store
from support.journeys import decide, sign_up

MARKETER = Principal.system("test-marketer", "campaigns:manage")

HERO: dict[str, Any] = {
    "key": "homepage-hero",
    "default": {"headline": "Welcome to the shop", "body": "New arrivals every week"},
    "variants": [
        {
            "name": "vip",
            "when": {"kind": "segment", "segment": "lyon"},
            "content": {"headline": "Lyon, your shop is open late", "body": ""},
        },
        {
            "name": "champions",
            "when": {"kind": "score", "score": "rfm_segment", "label": "champions"},
            "content": {"headline": "Thank you for being a champion", "body": ""},
        },
        {
            "name": "offer",
            "when": {"kind": "offer"},
            "content": {"headline": "Just for you: {offer}", "body": ""},
        },
    ],
}


def visitor(store: Store, n: int, *, city: str | None = None, consent: bool = True) -> uuid.UUID:
    """Person ``n``, tied to the snippet's anonymous id ``anon-n``, consenting to
    personalisation unless told otherwise."""
    customer_id = sign_up(store, n, consent=False)
    message: dict[str, Any] = {
        "type": "identify",
        "userId": f"user-{n}",
        "anonymousId": f"anon-{n}",
        "traits": {"city": city} if city else {},
        "messageId": f"visit-{n}-{uuid.uuid4().hex}",
    }
    with store.sessions.begin() as session:
        assert ingest(
            session, store, source="web", messages=[message], default_region="FR"
        ).accepted
    if consent:
        decide(store, customer_id, "granted", purpose="personalisation")
    return customer_id

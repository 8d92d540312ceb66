"""Personalisation over HTTP: marketers manage slots and offers; the snippet's decision call
is checked by write key and origin and never takes a user id from the page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clientvault.customers.scores import Score, put_scores
from clientvault.ingest.models import Event
from clientvault.ingest.sources import change_origins
from clientvault.security.models import AuditEntry
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.personalize import HERO, visitor
from support.staff import bearer_headers


def test_marketers_manage_slots_and_the_snippet_gets_its_decision(
    client: TestClient, db: Store, db_settings: Settings, write_key: str
) -> None:
    headers = bearer_headers(db, db_settings, "marketer")
    customer = visitor(db, 1)
    with db.sessions.begin() as session:
        put_scores(session, "rfm_segment", [Score(customer, label="champions")], model_version="t")
        change_origins(session, name="website", add=["https://shop.example"])

    bad = client.post("/api/v1/content-slots", json={**HERO, "key": "Bad key"}, headers=headers)
    assert bad.status_code == 422
    created = client.post("/api/v1/content-slots", json=HERO, headers=headers)
    assert created.status_code == 201, created.text
    assert client.post("/api/v1/content-slots", json=HERO, headers=headers).status_code == 409
    listed = client.get("/api/v1/content-slots", headers=headers).json()
    assert [s["key"] for s in listed] == ["homepage-hero"]
    preview = client.post(
        "/api/v1/content-slots/homepage-hero/preview",
        json={"customer_id": str(customer)},
        headers=headers,
    )
    assert preview.json()["variant"] == "champions", preview.text
    assert preview.json()["reason"] == "condition met: score"

    site = {"Origin": "https://shop.example"}
    ask = {"writeKey": write_key, "slot": "homepage-hero", "anonymousId": "anon-1", "track": True}
    known = client.post("/v1/personalize", json=ask, headers=site)
    assert known.status_code == 200, known.text
    assert known.json()["variant"] == "champions"
    assert known.json()["content"]["headline"] == "Thank you for being a champion"
    assert known.headers["access-control-allow-origin"] == "https://shop.example"
    assert known.headers["cache-control"] == "no-store"
    unknown = client.post("/v1/personalize", json={**ask, "anonymousId": "anon-x"}, headers=site)
    assert unknown.json()["variant"] == "default"
    # A page cannot name a user id to probe what someone else would see.
    probe = client.post("/v1/personalize", json={**ask, "userId": "user-1"}, headers=site)
    assert probe.status_code == 422
    assert (
        client.post(
            "/v1/personalize", json=ask, headers={"Origin": "https://evil.example"}
        ).status_code
        == 403
    )
    wrong_key = client.post("/v1/personalize", json={**ask, "writeKey": "cvwk_nope"}, headers=site)
    assert wrong_key.status_code == 401
    missing = client.post("/v1/personalize", json={**ask, "slot": "nowhere"}, headers=site)
    assert missing.status_code == 404
    untracked = client.post("/v1/personalize", json={**ask, "track": False}, headers=site)
    assert untracked.json()["variant"] == "champions"
    with db.sessions() as session:
        recorded = session.scalar(
            select(func.count()).select_from(Event).where(Event.name == "Content Shown")
        )
    assert recorded == 2  # the known and the unknown visitor; not the untracked call

    changed = client.put(
        "/api/v1/content-slots/homepage-hero",
        json={**HERO, "key": "ignored", "active": False},
        headers=headers,
    )
    assert changed.json()["key"] == "homepage-hero"
    assert changed.json()["active"] is False
    assert client.post("/v1/personalize", json=ask, headers=site).status_code == 404
    assert client.delete("/api/v1/content-slots/homepage-hero", headers=headers).status_code == 204
    analyst = bearer_headers(db, db_settings, "analyst")
    assert client.get("/api/v1/content-slots", headers=analyst).status_code == 403
    with db.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"content_slot.created", "content_slot.updated", "content_slot.deleted"} <= actions


def test_offers_over_the_api_and_a_customers_next_best_offers(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    headers = bearer_headers(db, db_settings, "marketer")
    customer = visitor(db, 1)
    offer = {"key": "winback", "kind": "discount", "title": "10% off", "margin": 0.2}
    assert client.post("/api/v1/offers", json=offer, headers=headers).status_code == 201
    bad = client.post(
        "/api/v1/offers", json={**offer, "key": "p", "kind": "product"}, headers=headers
    )
    assert bad.status_code == 422
    assert "names its SKU" in bad.text
    ranked = client.get(f"/api/v1/customers/{customer}/next-best-offers", headers=headers)
    assert ranked.status_code == 200, ranked.text
    [best] = ranked.json()
    assert best["key"] == "winback"
    assert best["factors"] == {"propensity": 0.5, "relevance": 0.3, "margin": 0.2, "fatigue": 1.0}
    assert best["value"] == 0.5 * 0.3 * 0.2
    updated = client.put("/api/v1/offers/winback", json={**offer, "active": False}, headers=headers)
    assert updated.json()["active"] is False
    assert (
        client.get(f"/api/v1/customers/{customer}/next-best-offers", headers=headers).json() == []
    )
    assert client.delete("/api/v1/offers/winback", headers=headers).status_code == 204
    with db.sessions() as session:
        reads = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "personalize.offers_read")
        )
    assert reads == 2

"""Journeys, templates and the do-not-contact list over the API; the e-mail tracking pixel and
redirect (signed, never an open redirect)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.automation.journeys import mail
from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, advance_due
from clientvault.automation.journeys.models import JourneyEmail
from clientvault.ingest import consumers
from clientvault.ingest.models import Event
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import ALWAYS, decide, sign_up, track
from support.staff import bearer_headers

WELCOME = {
    "trigger": {"kind": "event", "event": "Signed Up"},
    "steps": [
        {"id": "wait", "type": "wait", "minutes": 0},
        {"id": "hello", "type": "send_email", "template": "welcome"},
    ],
}
TEMPLATE = {
    "subject": "Welcome",
    "html": "<p>Hi {{ customer.first_name }}</p>"
    "<a href=\"{{ link('https://shop.example.com/') }}\">go</a>",
    "text": "Hi {{ customer.first_name }}",
}


def test_a_marketer_builds_runs_and_measures_a_journey(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    marketer = bearer_headers(db, db_settings, "marketer")
    assert client.get("/api/v1/journeys/schema", headers=marketer).json()["title"] == (
        "JourneyDefinition"
    )
    saved = client.put("/api/v1/email-templates/welcome", json=TEMPLATE, headers=marketer)
    assert saved.status_code == 200, saved.text
    hostile = {**TEMPLATE, "text": "{{ ''.__class__.__mro__ }}"}
    refused = client.put("/api/v1/email-templates/evil", json=hostile, headers=marketer)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["message"].startswith("text:")
    preview = client.post("/api/v1/email-templates/preview", json=TEMPLATE, headers=marketer)
    assert preview.json()["text"] == "Hi Ada"

    broken = {**WELCOME, "steps": [{"id": "hello", "type": "send_email"}]}
    bad = client.post(
        "/api/v1/journeys", json={"name": "W", "definition": broken}, headers=marketer
    )
    assert bad.status_code == 422
    assert "step 1 ('hello')" in bad.json()["error"]["message"]
    made = client.post(
        "/api/v1/journeys", json={"name": "W", "definition": WELCOME}, headers=marketer
    )
    assert made.status_code == 201, made.text
    journey_id = made.json()["id"]
    active = client.post(f"/api/v1/journeys/{journey_id}/activate", headers=marketer)
    assert active.json()["status"] == "active"
    again = client.post(f"/api/v1/journeys/{journey_id}/resume", headers=marketer)
    assert again.status_code == 409

    customer = sign_up(db, 1)
    decide(db, customer, "granted", purpose="analytics")
    track(db, "user-1", "Signed Up")
    settings = db_settings.model_copy(update={"automation": ALWAYS})
    consumers.drain(db, JOURNEY_CONSUMER)
    advance_due(db, settings)
    shown = client.get(f"/api/v1/journeys/{journey_id}", headers=marketer).json()
    assert [(s["step_id"], s["total"]) for s in shown["steps"]] == [("wait", 1), ("hello", 1)]
    assert shown["runs"] == {"completed": 1}

    with db.sessions() as session:
        (sent,) = session.scalars(select(JourneyEmail)).all()
    key = mail.tracking_key(db, db_settings)
    link = mail.sign(key, {"e": sent.id, "u": "https://shop.example.com/"})
    followed = client.get(f"/v1/email/c/{link}", follow_redirects=False)
    assert followed.status_code == 302
    assert followed.headers["location"] == "https://shop.example.com/"
    forged = mail.sign(b"not the key", {"e": sent.id, "u": "https://evil.example.net/"})
    assert client.get(f"/v1/email/c/{forged}", follow_redirects=False).status_code == 401
    pixel = client.get(f"/v1/email/o/{mail.sign(key, {'e': sent.id})}")
    assert pixel.headers["content-type"] == "image/gif"
    campaign = {
        "name": "Spring",
        "variants": [{"name": "A", "template": "welcome", "percent": 100}],
    }
    scheduled = client.post("/api/v1/campaigns", json=campaign, headers=marketer)
    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["status"] == "scheduled"
    unknown = {**campaign, "name": "Other", "variants": [{"name": "A", "template": "nope"}]}
    assert client.post("/api/v1/campaigns", json=unknown, headers=marketer).status_code == 404
    cancelled = client.post(f"/api/v1/campaigns/{scheduled.json()['id']}/cancel", headers=marketer)
    assert cancelled.json()["status"] == "cancelled"
    assert client.get("/api/v1/campaigns").status_code == 401  # a token is needed
    assert [c["name"] for c in client.get("/api/v1/campaigns", headers=marketer).json()] == [
        "Spring"
    ]
    with db.sessions() as session:
        names = sorted(
            session.scalars(select(Event.name).where(Event.source == "clientvault-automation"))
        )
    assert names == ["Email Link Clicked", "Email Opened"]


def test_the_do_not_contact_list_is_the_dpos(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    customer = sign_up(db, 1)
    dpo = bearer_headers(db, db_settings, "dpo")
    marketer = bearer_headers(db, db_settings, "marketer")
    body = {"customer_id": str(customer), "note": "asked by phone"}
    assert client.post("/api/v1/do-not-contact", json=body, headers=marketer).status_code == 403
    assert client.post("/api/v1/do-not-contact", json=body, headers=dpo).status_code == 201
    listed = client.get("/api/v1/do-not-contact", headers=dpo).json()
    assert [(e["customer_id"], e["reason"]) for e in listed] == [(str(customer), "manual")]
    assert client.delete(f"/api/v1/do-not-contact/{customer}", headers=dpo).status_code == 204
    assert client.get("/api/v1/do-not-contact", headers=dpo).json() == []


def test_a_journey_puts_a_customer_in_a_static_segment_the_segments_api_shows(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    marketer = bearer_headers(db, db_settings, "marketer")
    admin = bearer_headers(db, db_settings, "admin")
    nobody = {"type": "attribute", "field": "city", "values": ["Nowhere"]}
    for slug, kind in (("vip", "static"), ("lyon", "dynamic")):
        made = client.post(
            "/api/v1/segments",
            json={"slug": slug, "name": slug, "kind": kind, "rules": nobody},
            headers=marketer,
        )
        assert made.status_code == 201, made.text
    tag = {
        "trigger": {"kind": "event", "event": "Signed Up"},
        "steps": [{"id": "tag", "type": "add_to_segment", "segment": "lyon"}],
    }
    refused = client.post(
        "/api/v1/journeys", json={"name": "T", "definition": tag}, headers=marketer
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("step 1 ('tag'): segment: ")
    hook = {**tag, "steps": [{"id": "hook", "type": "webhook", "url": "http://127.0.0.1/x"}]}
    refused = client.post(
        "/api/v1/journeys", json={"name": "T", "definition": hook}, headers=marketer
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("step 1 ('hook'): url: refused")
    tag["steps"][0]["segment"] = "vip"
    made = client.post("/api/v1/journeys", json={"name": "T", "definition": tag}, headers=marketer)
    assert made.status_code == 201, made.text
    client.post(f"/api/v1/journeys/{made.json()['id']}/activate", headers=marketer)

    customer = sign_up(db, 1)
    track(db, "user-1", "Signed Up")
    consumers.drain(db, JOURNEY_CONSUMER)
    advance_due(db, db_settings.model_copy(update={"automation": ALWAYS}))
    page = client.get("/api/v1/segments/vip/members", headers=admin).json()
    assert [m["customer_id"] for m in page["members"]] == [str(customer)]
    history = client.get("/api/v1/segments/vip/history", headers=admin).json()
    assert [(c["change"], c["customers"]) for c in history["changes"]] == [("entered", "1")]
    assert history["sizes"][-1][1] == "1"
    mine = client.get(f"/api/v1/customers/{customer}/segments", headers=marketer).json()
    assert [s["slug"] for s in mine] == ["vip"]

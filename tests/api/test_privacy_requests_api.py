"""Data-subject requests, records of processing, breaches and the preference centre over
HTTP, on the real app; e-mails go through a real SMTP server on loopback and the tests follow
the links they carry."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from clientvault.messaging import delivery
from clientvault.migrations.schema import load_holders
from clientvault.privacy import consent
from clientvault.privacy.records import ensure_default_records
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.mailbox import Mailbox, link_in, smtp_server
from support.privacy import add_customer, smtp_to
from support.staff import bearer_token, create_staff


@pytest.fixture
def dpo(db: Store, db_settings: Settings) -> dict[str, str]:
    with db.sessions.begin() as session:
        user = create_staff(session, db_settings, email="dpo@example.com", role="dpo").user
        user.must_change_password = False
        return {"authorization": f"Bearer {bearer_token(session, db_settings, user)}"}


def _deliver(db: Store, settings: Settings) -> Mailbox:
    with smtp_server() as mailbox:
        delivery.drain(db, smtp_to(settings, mailbox.host, mailbox.port))
    return mailbox


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_access_request_from_intake_to_archive(
    client: TestClient, db: Store, db_settings: Settings, dpo: dict[str, str]
) -> None:
    load_holders()
    add_customer(db, email="grace@example.com")
    created = client.post(
        "/api/v1/privacy/requests",
        json={"email": "Grace@Example.com", "kind": "access", "regime": "ccpa"},
        headers=dpo,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    request_id = body["id"]
    assert body["status"] == "received"
    assert body["days_left"] == 45
    assert body["deadline"] == "on_time"

    # Unverified: nothing is exported or carried out.
    assert (
        client.get(f"/api/v1/privacy/requests/{request_id}/archive", headers=dpo).status_code == 409
    )
    refused = client.post(f"/api/v1/privacy/requests/{request_id}/complete", json={}, headers=dpo)
    assert refused.status_code == 409

    [message] = _deliver(db, db_settings).to("grace@example.com")
    verify = _local(link_in(message, "/preferences/verify"))
    page = client.get(verify)
    assert page.status_code == 200
    assert "Confirm my request" in page.text
    token = verify.split("token=")[1]
    assert client.post("/preferences/verify", data={"token": token}).status_code == 200
    again = client.post("/preferences/verify", data={"token": token})
    assert again.status_code == 403  # single use
    assert client.post("/preferences/verify", data={"token": token[:-1] + "x"}).status_code == 403

    done = client.post(f"/api/v1/privacy/requests/{request_id}/complete", json={}, headers=dpo)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    archive = client.get(f"/api/v1/privacy/requests/{request_id}/archive", headers=dpo)
    assert archive.status_code == 200
    assert archive.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert "export.json" in names
    listed = client.get("/api/v1/privacy/requests?status=completed", headers=dpo).json()
    assert [r["id"] for r in listed] == [request_id]


def test_preference_centre_changes_consent_and_unsubscribes_in_one_click(
    client: TestClient, db: Store, db_settings: Settings, dpo: dict[str, str]
) -> None:
    customer_id = add_customer(db, email="linus@example.com")
    with db.sessions.begin() as session:
        for purpose in ("marketing_email", "profiling"):
            consent.record_decision(
                session,
                customer_id=customer_id,
                purpose=purpose,
                decision="granted",
                policy_version="1",
                channel="web",
            )
    client.post(
        "/api/v1/privacy/requests",
        json={"customer_id": str(customer_id), "kind": "objection"},
        headers=dpo,
    )
    [message] = _deliver(db, db_settings).to("linus@example.com")
    centre = _local(link_in(message, "/preferences"))
    token = centre.split("token=")[1]
    page = client.get(centre)
    assert page.status_code == 200
    assert 'data-purpose="profiling"' in page.text

    changed = client.post(
        "/preferences/consents",
        data={"token": token, "purpose": "profiling", "decision": "withdrawn"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    unsubscribe = _local(message["List-Unsubscribe"].strip("<>"))
    one_click = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    with db.read_sessions() as session:
        states = consent.current_consents(session, customer_id=customer_id)
    assert states["profiling"].decision == "withdrawn"
    assert states["marketing_email"].decision == "withdrawn"
    assert states["marketing_email"].channel == "preference_centre"
    assert client.get("/preferences?token=forged-token").status_code == 403

    asked = client.post(
        "/preferences/requests",
        data={"token": token, "kind": "portability"},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    assert "done=request" in asked.headers["location"]
    listed = client.get("/api/v1/privacy/requests?status=verified", headers=dpo).json()
    assert [(r["kind"], r["channel"]) for r in listed] == [("portability", "preferences")]
    refused = client.post("/preferences/requests", data={"token": token, "kind": "rectification"})
    assert refused.status_code == 422


def test_records_of_processing_export_and_public_notice(
    client: TestClient, db: Store, dpo: dict[str, str]
) -> None:
    with db.sessions.begin() as session:
        ensure_default_records(session)
    exported = client.get("/api/v1/privacy/records", headers=dpo)
    assert exported.status_code == 200
    document = exported.json()
    keys = {r["key"] for r in document["records"]}
    holders = {h["name"] for h in document["personal_data_holders"]}
    assert {"identity.customers", "privacy.requests"} <= holders
    assert {"customer_management", "marketing"} <= keys
    assert all(r["security_measures"] and r["retention"] for r in document["records"])
    record = {**document["records"][0]}
    for field in ("key", "updated_at"):
        record.pop(field)
    record["transfers"] = ["United States (standard contractual clauses)"]
    put = client.put("/api/v1/privacy/records/support_chat", json=record, headers=dpo)
    assert put.status_code == 200, put.text
    notice = client.get("/privacy-notice")
    assert notice.status_code == 200
    assert "standard contractual clauses" in notice.text
    assert client.get("/api/v1/privacy/records").status_code == 401
    assert json.loads(json.dumps(document))  # plain JSON


def test_breach_register_runs_the_72_hour_clock(client: TestClient, dpo: dict[str, str]) -> None:
    detected = utcnow() - timedelta(hours=80)
    late = client.post(
        "/api/v1/privacy/breaches",
        json={
            "title": "Lost laptop",
            "description": "An unencrypted export was on it.",
            "detected_at": detected.isoformat(),
            "risk": "high",
        },
        headers=dpo,
    ).json()
    assert late["clock"] == "overdue"
    assert late["hours_left"] == pytest.approx(-8, abs=0.1)
    fresh = client.post(
        "/api/v1/privacy/breaches",
        json={
            "title": "Misdirected e-mail",
            "description": "One message to the wrong address.",
            "detected_at": (utcnow() - timedelta(hours=2)).isoformat(),
            "risk": "risk",
        },
        headers=dpo,
    ).json()
    assert fresh["clock"] == "open"
    assert fresh["hours_left"] == pytest.approx(70, abs=0.1)
    future = client.post(
        f"/api/v1/privacy/breaches/{fresh['id']}/notify",
        json={"reference": "CNIL-2026-001", "at": (utcnow() + timedelta(days=1)).isoformat()},
        headers=dpo,
    )
    assert future.status_code == 422
    notified = client.post(
        f"/api/v1/privacy/breaches/{fresh['id']}/notify",
        json={"reference": "CNIL-2026-001"},
        headers=dpo,
    ).json()
    assert notified["clock"] == "notified"
    unlikely = client.post(
        "/api/v1/privacy/breaches",
        json={
            "title": "Encrypted disk lost",
            "description": "Full-disk encryption, key not on it.",
            "detected_at": utcnow().isoformat(),
            "risk": "unlikely",
        },
        headers=dpo,
    )
    assert unlikely.status_code == 422  # says why it is not notified


def test_site_visitor_gets_a_link_only_in_their_own_mailbox(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    add_customer(db, email="barbara@example.com")
    assert "Send me a link" in client.get("/preferences/start").text
    answers = [
        client.post("/preferences/start", data={"email": email}).text
        for email in ("barbara@example.com", "nobody@example.com", "barbara@example.com")
    ]
    assert answers[0] == answers[1] == answers[2]  # nothing learnt about the address
    assert "token=" not in answers[0]
    mailbox = _deliver(db, db_settings)
    [message] = mailbox.to("barbara@example.com")  # the repeat was within the cool-down
    assert len(mailbox.messages) == 1
    page = client.get(_local(link_in(message, "/preferences")))
    assert page.status_code == 200
    assert "Your privacy preferences" in page.text

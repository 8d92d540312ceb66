"""Settings over the API and the console: tracking sources and write keys (created once,
counted, revoked, audited), tokens (one made in the console works on the API; any can be
revoked), a test e-mail through the relay, purposes, and the read-only settings (secrets
hidden); and the OpenAPI document's security schemes and error bodies."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from clientvault.app import create_app
from clientvault.security.models import AuditEntry
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.mailbox import smtp_server
from support.staff import api_sign_in_with_mfa, bearer_headers, create_staff

_IDENTIFY = {"type": "identify", "userId": "u-1", "traits": {"email": "ann@example.com"}}


def _actions(db: Store) -> list[str]:
    with db.sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def _admin(db: Store, settings: Settings) -> None:
    with db.sessions.begin() as session:
        user = create_staff(session, settings, email="admin@example.com", role="admin").user
        user.must_change_password = False


def test_a_source_made_over_the_api_takes_events_until_revoked(
    db: Store, db_settings: Settings
) -> None:
    admin = bearer_headers(db, db_settings, "admin")
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        made = client.post("/api/v1/sources", json={"name": "shop"}, headers=admin)
        key = made.json()["write_key"]
        again = client.post("/api/v1/sources", json={"name": "shop"}, headers=admin)
        tracked = client.post("/v1/identify", json=_IDENTIFY, auth=(key, ""))
        listed = client.get("/api/v1/sources", headers=admin).json()
        revoked = client.post("/api/v1/sources/shop/revoke", headers=admin)
        refused = client.post("/v1/identify", json=_IDENTIFY, auth=(key, ""))
        missing = client.post("/api/v1/sources/nope/revoke", headers=admin)
    assert made.status_code == 201
    assert key.startswith("cvwk_")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert tracked.status_code == 200
    (shop,) = listed
    assert (shop["name"], shop["state"], shop["events"]) == ("shop", "active", 1)
    assert shop["last_event_at"] is not None
    assert "write_key" not in shop
    assert key not in str(listed)
    assert shop["key_prefix"] == key[:12]
    assert revoked.status_code == 204
    assert refused.status_code == 401
    assert missing.status_code == 404
    assert {"source.created", "source.revoked"} <= set(_actions(db))


def test_a_token_made_in_the_console_works_on_the_api_and_can_be_revoked_in_settings(
    db: Store, db_settings: Settings
) -> None:
    _admin(db, db_settings)
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        csrf = api_sign_in_with_mfa(client, db, "admin@example.com")["x-csrf-token"]
        made = client.post(
            "/console/account/tokens",
            data={
                "csrf_token": csrf,
                "name": "swagger",
                "scopes": ["audit:read", "users:manage"],
                "days": "7",
            },
        )
        match = re.search(r"data-new-token>(cvat_[^<]+)<", made.text)
        assert match, made.text[:2000]
        bearer = {"authorization": f"Bearer {match.group(1)}"}
        client.cookies.clear()
        me = client.get("/api/v1/me", headers=bearer)
        tokens = client.get("/api/v1/tokens", headers=bearer, params={"limit": 1})
        settings_page = client.get("/api/v1/audit", headers=bearer)
        revoked = client.post(f"/api/v1/tokens/{tokens.json()[0]['id']}/revoke", headers=bearer)
        after = client.get("/api/v1/me", headers=bearer)
    assert made.status_code == 200
    assert me.status_code == 200
    assert me.json()["email"] == "admin@example.com"
    assert tokens.status_code == 200
    assert tokens.json()[0]["name"] == "swagger"
    assert settings_page.status_code == 200
    assert revoked.status_code == 204
    assert after.status_code == 401


def test_settings_show_where_each_is_set_and_hide_secrets(db: Store, db_settings: Settings) -> None:
    settings = db_settings.model_copy(
        update={
            "smtp": db_settings.smtp.model_copy(
                update={"username": "relay-user", "password": SecretStr("hunter2-relay")}
            )
        }
    )
    admin = bearer_headers(db, settings, "admin")
    marketer = bearer_headers(db, settings, "marketer")
    with TestClient(create_app(settings, store=db), base_url="https://testserver") as client:
        overview = client.get("/api/v1/settings", headers=admin)
        refused = client.get("/api/v1/settings", headers=marketer)
    assert overview.status_code == 200
    assert refused.status_code == 403
    body = overview.json()
    assert "hunter2-relay" not in overview.text
    smtp = {v["name"]: v for v in next(s for s in body["sections"] if s["key"] == "smtp")["values"]}
    assert smtp["password"]["value"] == "set (hidden)"
    assert smtp["password"]["variable"] == "CLIENTVAULT_SMTP__PASSWORD"
    assert body["installation"]["schema_revision"]
    assert body["outbox"] == {"delivery_enabled": False, "queued": 0, "sent": 0, "failed": 0}


def test_the_test_e_mail_goes_through_the_relay_or_says_why_not(
    db: Store, db_settings: Settings
) -> None:
    admin = bearer_headers(db, db_settings, "admin")
    with smtp_server() as mailbox:
        relay = db_settings.smtp.model_copy(update={"host": mailbox.host, "port": mailbox.port})
        settings = db_settings.model_copy(update={"smtp": relay})
        with TestClient(create_app(settings, store=db), base_url="https://testserver") as client:
            sent = client.post(
                "/api/v1/settings/smtp/test", json={"to": "ops@example.com"}, headers=admin
            )
            bad = client.post("/api/v1/settings/smtp/test", json={"to": "a@b, c@d"}, headers=admin)
    closed = db_settings.model_copy(
        update={"smtp": relay.model_copy(update={"port": mailbox.port, "timeout_seconds": 2})}
    )
    with TestClient(create_app(closed, store=db), base_url="https://testserver") as client:
        failed = client.post(
            "/api/v1/settings/smtp/test", json={"to": "ops@example.com"}, headers=admin
        )
    assert sent.json() == {"delivered": True, "problem": None}
    assert [m["Subject"] for m in mailbox.to("ops@example.com")] == ["clientvault: test e-mail"]
    assert bad.status_code == 422
    assert failed.json()["delivered"] is False
    assert failed.json()["problem"]
    assert _actions(db).count("smtp.test_sent") == 2


def test_the_settings_page_creates_a_write_key_shown_once_and_a_purpose(
    db: Store, db_settings: Settings
) -> None:
    _admin(db, db_settings)
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        csrf = api_sign_in_with_mfa(client, db, "admin@example.com")["x-csrf-token"]
        made = client.post(
            "/console/settings/sources",
            data={"csrf_token": csrf, "name": "app", "origins": "https://shop.example.com"},
        )
        key = re.search(r'id="new-write-key">(cvwk_[^<]+)<', made.text)
        page = client.get("/console/settings")
        purpose = client.post(
            "/console/settings/purposes",
            data={
                "csrf_token": csrf,
                "code": "loyalty",
                "title": "Loyalty programme",
                "description": "Points and rewards.",
                "legal_basis": "contract",
            },
        )
        bad = client.post(
            "/console/settings/purposes",
            data={
                "csrf_token": csrf,
                "code": "Loyalty!",
                "title": "x",
                "description": "y",
                "legal_basis": "contract",
            },
        )
    assert made.status_code == 200
    assert key is not None
    assert key.group(1) not in page.text
    assert 'data-source="app"' in page.text
    assert "CLIENTVAULT_RETENTION__ERASURE_MODE" in page.text
    assert purpose.status_code == 200
    assert 'data-purpose="loyalty"' in purpose.text
    assert bad.status_code == 422
    assert {"source.created", "purpose.created"} <= set(_actions(db))


def test_the_openapi_document_declares_how_to_authenticate_and_its_errors() -> None:
    document = create_app(Settings(env="test")).openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == {**schemes["apiToken"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie"
    sources = document["paths"]["/api/v1/sources"]["post"]
    assert sources["security"] == [{"apiToken": []}, {"session": [], "csrf": []}]
    for status in ("401", "403", "422"):
        schema = sources["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert "security" not in document["paths"]["/healthz"]["get"]
    assert document["paths"]["/v1/track"]["post"]["security"] == [{"writeKey": []}, {}]
    assert "HTTPValidationError" not in document["components"]["schemas"]

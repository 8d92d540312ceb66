"""Access alerts over the API and on the console page, for whoever holds ``alerts:read``."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from clientvault.security import audit
from clientvault.security.accounts import define_role
from clientvault.security.alerts import detection, inbox
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.alert_policy import at_any_hour
from support.staff import api_sign_in, bearer_token, create_staff

PASSWORD = "violet-harbour-tangent-quarry-47"


@pytest.fixture
def raised(db: Store, db_settings: Settings) -> list[int]:
    """Two open alerts: a bulk export and a replayed one-time code."""
    exporter = Principal.user(uuid.uuid4(), role="marketer", permissions=frozenset())
    with db.sessions.begin() as session:
        audit.record(
            session,
            principal=exporter,
            action="pii.export",
            target_type="customer",
            target_ids=[str(uuid.uuid4()) for _ in range(3)],
            reason="agency",
        )
        audit.record(session, principal=exporter, action="mfa.replay_refused")
    detection.drain(db, policy=at_any_hour(db_settings.security))
    with db.sessions() as session:
        return [alert.id for alert in inbox.list_alerts(session)]


def _sign_in(client: TestClient, db: Store, settings: Settings, role: str) -> dict[str, str]:
    with db.sessions.begin() as session:
        if role == "triage":
            define_role(
                session,
                name="triage",
                permissions={"alerts:read"},
                description="reads alerts",
                by=Principal.system("test"),
            )
        create_staff(
            session,
            settings,
            email=f"{role}@example.com",
            role=role,
            password=PASSWORD,
            display_name=f"{role.title()} Person",
        ).user.must_change_password = False
    return api_sign_in(client, f"{role}@example.com", PASSWORD)


def test_alerts_are_listed_and_acknowledged(
    client: TestClient, db: Store, db_settings: Settings, raised: list[int]
) -> None:
    csrf = _sign_in(client, db, db_settings, "triage")
    listed = client.get("/api/v1/alerts").json()
    assert [a["id"] for a in listed] == raised  # newest first
    assert {a["kind"] for a in listed} == {"bulk_export", "mfa_replay"}
    export = next(a for a in listed if a["kind"] == "bulk_export")
    assert export["evidence"]["entries"] == 3
    assert export["summary"] == "export of 3 records (pii.export)"
    assert client.get(f"/api/v1/alerts/{export['id']}").json() == export

    path = f"/api/v1/alerts/{export['id']}/acknowledge"
    assert client.post(path).status_code == 403  # CSRF
    acknowledged = client.post(path, headers=csrf).json()
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_by"] is not None
    assert [a["id"] for a in client.get("/api/v1/alerts?status=open").json()] == [
        a["id"] for a in listed if a["id"] != export["id"]
    ]
    assert client.get("/api/v1/alerts?status=nope").status_code == 422
    assert client.get("/api/v1/alerts/999999").status_code == 404


def test_only_alerts_read_may_see_them(
    client: TestClient, db: Store, db_settings: Settings, raised: list[int]
) -> None:
    _sign_in(client, db, db_settings, "analyst")
    assert client.get("/api/v1/alerts").status_code == 403
    client.cookies.clear()
    with db.sessions.begin() as session:  # the DPO's role holds alerts:read
        dpo = create_staff(
            session,
            db_settings,
            email="dpo@example.com",
            role="dpo",
            password=PASSWORD,
            display_name="DPO",
        ).user
        dpo.must_change_password = False
        secret = bearer_token(session, db_settings, dpo)
    answer = client.get("/api/v1/alerts", headers={"authorization": f"Bearer {secret}"})
    assert answer.status_code == 200
    assert len(answer.json()) == len(raised)


def test_the_console_page_lists_and_acknowledges(
    client: TestClient, db: Store, db_settings: Settings, raised: list[int]
) -> None:
    csrf = _sign_in(client, db, db_settings, "triage")
    page = client.get("/console/security/alerts")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "Bulk export" in html
    assert "One-time code replayed" in html
    assert "Export of 3 records (pii.export)." in html
    assert html.count('action="/console/security/alerts/') == 2

    answer = client.post(
        f"/console/security/alerts/{raised[0]}/acknowledge",
        data={"csrf_token": csrf["x-csrf-token"]},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    after = client.get(answer.headers["location"]).text
    assert "The alert was acknowledged." in after
    assert after.count('action="/console/security/alerts/') == 1
    everything = client.get("/console/security/alerts?status=all").text
    assert "acknowledged" in everything
    refused = client.post(f"/console/security/alerts/{raised[1]}/acknowledge")
    assert refused.status_code == 403  # no CSRF token

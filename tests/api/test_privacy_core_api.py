"""The privacy core over HTTP: consents recorded and read by the DPO, audience previews and
CSV exports for marketers that honour a withdrawal at once, purposes required."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from clientvault.settings import Settings
from clientvault.store.context import Store
from support.privacy_core import make_customers, person, prepare
from support.staff import bearer_token, create_staff


def _headers(db: Store, settings: Settings, role: str) -> dict[str, str]:
    with db.sessions.begin() as session:
        user = create_staff(
            session,
            settings,
            email=f"{role}@example.com",
            role=role,
            password="privacy-copper-meadow-58",
            display_name=role,
        ).user
        return {"authorization": f"Bearer {bearer_token(session, settings, user)}"}


def _csv_ids(client: TestClient, headers: dict[str, str]) -> set[str]:
    response = client.get("/api/v1/privacy/audiences/marketing_email/export.csv", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return {row["customer_id"] for row in csv.DictReader(io.StringIO(response.text))}


def test_a_withdrawal_through_the_api_empties_the_next_audience(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    prepare(db)
    dpo = _headers(db, db_settings, "dpo")
    marketer = _headers(db, db_settings, "marketer")
    a, b = (str(c) for c in make_customers(db, person(1), person(2)))
    for customer in (a, b):
        response = client.post(
            f"/api/v1/privacy/customers/{customer}/consents",
            headers=dpo,
            json={
                "purpose": "marketing_email",
                "decision": "granted",
                "policy_version": "2026-01",
                "channel": "web",
            },
        )
        assert response.status_code == 200, response.text
    preview = client.get("/api/v1/privacy/audiences/marketing_email/preview", headers=marketer)
    assert preview.json()["size"] == 2
    assert _csv_ids(client, marketer) == {a, b}

    response = client.post(
        f"/api/v1/privacy/customers/{a}/consents",
        headers=dpo,
        json={
            "purpose": "marketing_email",
            "decision": "withdrawn",
            "policy_version": "2026-01",
            "channel": "preference_centre",
        },
    )
    assert response.json()["consents"]["marketing_email"]["decision"] == "withdrawn"
    assert _csv_ids(client, marketer) == {b}
    response = client.post(
        f"/api/v1/privacy/customers/{b}/limits",
        headers=dpo,
        json={"kind": "restriction", "channel": "dpo"},
    )
    assert response.json()["limits"]["restriction"]["active"] is True
    assert client.get(
        "/api/v1/privacy/audiences/marketing_email/preview", headers=marketer
    ).json() == {"purpose": "marketing_email", "size": 0, "sample": []}


def test_inputs_are_validated_and_permissions_enforced(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    prepare(db)
    dpo = _headers(db, db_settings, "dpo")
    analyst = _headers(db, db_settings, "analyst")
    marketer = _headers(db, db_settings, "marketer")
    [customer] = make_customers(db, person(1))
    url = f"/api/v1/privacy/customers/{customer}/consents"
    body = {"purpose": "marketing_email", "decision": "granted", "policy_version": "1"}
    assert client.post(url, headers=dpo, json={**body, "channel": "web", "x": 1}).status_code == 422
    assert client.post(url, headers=dpo, json={**body, "channel": "web"}).status_code == 200
    unknown = {**body, "channel": "web", "purpose": "resale"}
    assert client.post(url, headers=dpo, json=unknown).status_code == 404
    assert client.get(url, headers=analyst).status_code == 403
    preview = "/api/v1/privacy/audiences/{}/preview"
    assert client.get(preview.format("marketing_email"), headers=analyst).status_code == 403
    assert client.get(preview.format("no_such_purpose"), headers=dpo).status_code == 403
    assert client.get(preview.format("no_such_purpose"), headers=marketer).status_code == 404
    assert client.get(preview.format("Bad-Purpose"), headers=marketer).status_code == 422
    purposes = client.get("/api/v1/privacy/purposes", headers=analyst).json()
    assert {"marketing_email", "sale_share", "analytics"} <= {p["code"] for p in purposes}
    export = client.get(
        f"/api/v1/privacy/customers/{customer}/export",
        headers=dpo,
        params={"reason": "access request", "format": "zip"},
    )
    assert export.status_code == 200
    assert export.headers["content-type"] == "application/zip"

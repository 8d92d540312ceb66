"""Identifiers that hit their kind's limit, through the real tracking API: kept on the profile
that brought them (never linked, never dropped silently), counted in the call's answer, and
shown masked on that profile's 360° view; blocked placeholders dropped but counted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.app import create_app
from clientvault.identity.golden import MASK
from clientvault.identity.models import CustomerIdentity, IdentifierConflict
from clientvault.settings import IdentitySettings, Settings
from clientvault.store.context import Store
from support.identity_eval import customer_of
from support.staff import bearer_headers

#: E-mail limited to one profile here, so that an e-mail conflict happens at the second.
LIMITS = IdentitySettings(max_customers_per_value={"user_id": 1, "external_id": 1, "email": 1})
SSN = [{"type": "ssn", "id": "912-40-5521"}]


@pytest.fixture
def client(db: Store, db_settings: Settings) -> Iterator[TestClient]:
    settings = db_settings.model_copy(update={"identity": LIMITS})
    with TestClient(create_app(settings, store=db), base_url="https://testserver") as test_client:
        yield test_client


def _post(client: TestClient, key: str, kind: str, **body: Any) -> dict[str, Any]:
    body.setdefault("messageId", str(uuid.uuid4()))
    response = client.post(f"/v1/{kind}", json=body, auth=(key, ""))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["success"] is True  # what Segment's SDKs read: unchanged
    return answer


def test_a_known_external_id_on_another_profile_is_kept_counted_and_shown(
    client: TestClient, db: Store, db_settings: Settings, write_key: str
) -> None:
    first = _post(client, write_key, "identify", userId="crm-1", context={"externalIds": SSN})
    assert first["identifier_conflicts"] == 0
    second = _post(client, write_key, "identify", userId="crm-2", context={"externalIds": SSN})
    assert second["identifier_conflicts"] == 1
    # Sent again by the same customer: kept already, not a new conflict.
    again = _post(
        client, write_key, "track", userId="crm-2", event="Paid", context={"externalIds": SSN}
    )
    assert again["identifier_conflicts"] == 0
    holder, keeper = customer_of(db, "user_id", "crm-1"), customer_of(db, "user_id", "crm-2")
    ssn_index = db.index("ext:ssn", "912-40-5521")
    with db.sessions() as session:
        linked = set(
            session.scalars(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == "ext:ssn", CustomerIdentity.value_index == ssn_index
                )
            )
        )
        kept = session.execute(
            select(
                IdentifierConflict.customer_id,
                IdentifierConflict.owner_id,
                IdentifierConflict.kind,
                IdentifierConflict.value_index,
                IdentifierConflict.source,
            )
        ).all()
    assert linked == {holder}  # the graph is unchanged: the value still resolves to its holder
    assert [tuple(row) for row in kept] == [(keeper, holder, "ext:ssn", ssn_index, "website")]

    support = client.get(
        f"/api/v1/customers/{keeper}/360", headers=bearer_headers(db, db_settings, "support")
    )
    assert support.status_code == 200, support.text
    [shown] = support.json()["kept_identifiers"]
    assert (shown["kind"], shown["value"], shown["held_by"]) == ("ext:ssn", MASK, str(holder))
    analyst = client.get(
        f"/api/v1/customers/{keeper}/360", headers=bearer_headers(db, db_settings, "analyst")
    )
    [masked] = analyst.json()["kept_identifiers"]
    assert (masked["kind"], masked["value"], masked["held_by"]) == ("ext:ssn", MASK, None)
    assert "912-40-5521" not in support.text + analyst.text
    holder_view = client.get(
        f"/api/v1/customers/{holder}/360", headers=bearer_headers(db, db_settings, "dpo")
    )
    assert holder_view.json()["kept_identifiers"] == []


def test_an_email_at_its_limit_is_kept_and_blocked_placeholders_are_counted(
    client: TestClient, db: Store, write_key: str
) -> None:
    traits = {"email": "Ana.Lima@Example.com"}
    assert (
        _post(client, write_key, "identify", userId="u-1", traits=traits)["identifier_conflicts"]
        == 0
    )
    answer = _post(client, write_key, "identify", userId="u-2", traits=traits)
    assert (answer["identifier_conflicts"], answer["blocked_identifiers"]) == (1, 0)
    with db.sessions() as session:
        kinds = list(session.scalars(select(IdentifierConflict.kind)))
    assert kinds == ["email"]

    batch = [
        {"type": "identify", "userId": "u-3", "traits": {"email": "test@example.com"}},
        {"type": "identify", "userId": "null", "traits": {"firstName": "Zed"}},
        {"type": "track", "userId": "u-1", "event": "Viewed"},
    ]
    response = client.post("/v1/batch", json={"batch": batch}, auth=(write_key, ""))
    assert response.status_code == 200, response.text
    assert response.json()["blocked_identifiers"] == 2
    assert response.json()["identifier_conflicts"] == 0
    with db.sessions() as session:
        assert list(session.scalars(select(IdentifierConflict.kind))) == ["email"]

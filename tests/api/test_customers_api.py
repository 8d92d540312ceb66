"""Customer profiles over the API: pseudonymised for readers, identifiers only for pii:reveal,
with a reason, and every view and reveal audited."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.security.models import AuditEntry
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.staff import bearer_token, create_staff


def _bearer(db: Store, settings: Settings, role: str) -> dict[str, str]:
    with db.sessions.begin() as session:
        user = create_staff(
            session,
            settings,
            email=f"{role}@example.com",
            role=role,
            password="customers-violet-harbour-47",
            display_name=role,
        ).user
        secret = bearer_token(session, settings, user)
    return {"authorization": f"Bearer {secret}"}


@pytest.fixture
def customer(db: Store) -> str:
    profile = CustomerCreate(
        email="Zoe.Canary@example.com",
        phone="0612345678",
        first_name="Zoe",
        city="Lyon",
        country="FR",
    )
    with db.sessions.begin() as session:
        [customer_id] = create_customers(
            session, db, profiles=[profile], source="t", default_region="FR"
        )
    return str(customer_id)


def _actions(db: Store) -> list[tuple[str, str | None]]:
    with db.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["customer.viewed", "pii.reveal"]))
        ).all()
    return [(entry.action, entry.reason) for entry in entries]


def test_an_analyst_sees_the_pseudonymised_profile_only(
    client: TestClient, db: Store, db_settings: Settings, customer: str
) -> None:
    headers = _bearer(db, db_settings, "analyst")
    response = client.get(f"/api/v1/customers/{customer}", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["city"] == "Lyon"
    assert body["has_email"] is True
    assert "zoe" not in response.text.lower()
    assert "612345678" not in response.text
    assert response.headers["cache-control"] == "no-store"
    refused = client.get(
        f"/api/v1/customers/{customer}/identifiers?reason=curious", headers=headers
    )
    assert refused.status_code == 403
    assert _actions(db) == [("customer.viewed", None)]


def test_support_opens_identifiers_with_a_reason(
    client: TestClient, db: Store, db_settings: Settings, customer: str
) -> None:
    headers = _bearer(db, db_settings, "support")
    no_reason = client.get(f"/api/v1/customers/{customer}/identifiers", headers=headers)
    assert no_reason.status_code == 422
    response = client.get(
        f"/api/v1/customers/{customer}/identifiers",
        params={"reason": "ticket 42: customer asked", "fields": ["email", "phone"]},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["email"] == "zoe.canary@example.com"
    assert response.json()["phone"] == "+33612345678"
    assert response.json()["first_name"] is None  # only the fields asked for
    assert _actions(db) == [("pii.reveal", "ticket 42: customer asked")]


def test_staff_see_an_age_band_never_birth_year_and_birthday_together(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    """Issue 16: birth year and birthday (MM-DD) together rebuild the sealed birth date. Read
    views (profile, 360° over the API and the console) show an age band, for every role; the
    exact date leaves only through the audited reveal."""
    born = date(utcnow().year - 30, 1, 1)  # 30 all year long
    profile = CustomerCreate(email="band@example.com", birth_date=born, city="Lyon")
    with db.sessions.begin() as session:
        [customer_id] = create_customers(
            session, db, profiles=[profile], source="t", default_region="FR"
        )
    bearers = {role: _bearer(db, db_settings, role) for role in ("analyst", "support")}
    for headers in bearers.values():
        body = client.get(f"/api/v1/customers/{customer_id}", headers=headers).json()
        assert body["age_band"] == "25-34"
        assert not {"birth_year", "birthday"} & set(body)
        golden = client.get(f"/api/v1/customers/{customer_id}/360", headers=headers).json()
        values = golden["golden"]["values"]
        assert values["age_band"]["value"] == "25-34"
        assert not {"birth_year", "birthday"} & set(values)
        assert values["birth_date"]["masked"] is True
        page = client.get(f"/console/customers/{customer_id}", headers=headers)
        assert page.status_code == 200
        assert "25-34" in page.text
        assert "birthday" not in page.text.lower()
    revealed = client.get(
        f"/api/v1/customers/{customer_id}/identifiers?reason=ticket 7&fields=birth_date",
        headers=bearers["support"],
    )
    assert revealed.json()["birth_date"] == born.isoformat()


def test_a_customer_whose_data_key_is_destroyed_is_answered_as_erased(
    client: TestClient, db: Store, db_settings: Settings, customer: str
) -> None:
    """Issue 16: a database restored from before an erasure still has the profile, but the
    keystore no longer has its data key. Destroying the key alone is that state exactly. The
    profile, its identifiers and its 360° view answer 410 ``erased`` (was: the profile shown,
    and a reveal's 500 ``unreadable_field``), and the console page says so."""
    assert db.keystore.destroy(uuid.UUID(customer))
    support = _bearer(db, db_settings, "support")
    for path in (
        f"/api/v1/customers/{customer}",
        f"/api/v1/customers/{customer}/identifiers?reason=ticket 9",
        f"/api/v1/customers/{customer}/360",
        f"/api/v1/customers/{customer}/360?reason=ticket 9",
    ):
        response = client.get(path, headers=support)
        assert response.status_code == 410, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "erased"
        assert f"customer {customer} was erased" in error["message"]
    page = client.get(f"/console/customers/{customer}", headers=support)
    assert page.status_code == 410
    assert "This customer was erased" in page.text
    assert "Lyon" not in page.text

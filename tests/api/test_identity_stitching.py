"""The identity graph's rules through the real tracking API: limits, priorities, blocked
values, and identifiers of merged profiles resolving to their survivor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clientvault.app import create_app
from clientvault.identity.merges import merge_customers
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.models import Event
from clientvault.security.principal import Principal
from clientvault.settings import IdentitySettings, Settings
from clientvault.store.context import Store

LIMITS = IdentitySettings(max_customers_per_value={"user_id": 1, "email": 2, "device_id": 2})


@pytest.fixture
def client(db: Store, db_settings: Settings) -> Iterator[TestClient]:
    settings = db_settings.model_copy(update={"identity": LIMITS})
    with TestClient(create_app(settings, store=db), base_url="https://testserver") as test_client:
        yield test_client


class Tracker:
    """Posts tracking calls with the write key and fresh message ids."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client, self.key = client, key

    def __call__(self, kind: str, **body: Any) -> None:
        body.setdefault("messageId", str(uuid.uuid4()))
        response = self.client.post(f"/v1/{kind}", json=body, auth=(self.key, ""))
        assert response.status_code == 200, response.text


@pytest.fixture
def track(client: TestClient, write_key: str) -> Tracker:
    return Tracker(client, write_key)


def _owner_of_last_event(db: Store) -> uuid.UUID | None:
    with db.sessions() as session:
        return session.scalar(select(Event.customer_id).order_by(Event.id.desc()).limit(1))


def _customers(db: Store) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(Customer)) or 0


def _owners(db: Store, kind: str, value: str) -> set[uuid.UUID]:
    with db.sessions() as session:
        return set(
            session.scalars(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == kind,
                    CustomerIdentity.value_index == db.index(kind, value),
                )
            )
        )


def test_a_shared_family_email_beyond_its_limit_chains_nobody(db: Store, track: Tracker) -> None:
    family = "family@example.com"
    for number in (1, 2, 3):
        track("identify", userId=f"u-{number}", traits={"email": family})
    # One user id per profile: three people, the e-mail linked to each of them.
    assert _customers(db) == 3
    assert len(_owners(db, "email", family)) == 3
    # Linked to 3 > 2 profiles: a visitor giving that e-mail is nobody's yet.
    track("identify", anonymousId="anon-x", traits={"email": family, "firstName": "Zoe"})
    assert _customers(db) == 4
    assert _owner_of_last_event(db) not in _owners(db, "user_id", "u-1")


def test_a_shared_device_chains_within_its_limit_only(db: Store, track: Tracker) -> None:
    kiosk = {"device": {"id": "kiosk-7"}}
    track("track", userId="u-1", event="Signed In", context=kiosk)
    [first] = _owners(db, "user_id", "u-1")
    track("page", anonymousId="anon-1", name="Home", context=kiosk)
    assert _owner_of_last_event(db) == first  # one owner: the device still resolves
    track("track", userId="u-2", event="Signed In", context=kiosk)
    track("track", userId="u-3", event="Signed In", context=kiosk)
    assert len(_owners(db, "device_id", "kiosk-7")) == 3
    track("page", anonymousId="anon-2", name="Home", context=kiosk)
    assert _owner_of_last_event(db) is None  # saturated: no longer anybody's


def test_blocked_values_never_link(db: Store, track: Tracker) -> None:
    track("identify", anonymousId="a-1", traits={"email": "TEST@example.com"})
    track("identify", anonymousId="a-2", traits={"email": "test@example.com"})
    track("identify", userId="0000000000", traits={"email": "one@example.com"})
    track("identify", userId="0000000000", traits={"email": "two@example.com"})
    track("track", userId="null", event="Clicked")
    assert _customers(db) == 4  # nobody chained through a placeholder
    assert _owners(db, "email", "test@example.com") == set()
    assert _owners(db, "user_id", "0000000000") == set()
    assert _owner_of_last_event(db) is None  # a blocked user id names nobody


def test_the_highest_priority_identifier_decides(db: Store, track: Tracker) -> None:
    track("identify", userId="u-1", traits={"email": "one@example.com"})
    track("identify", anonymousId="a-2", traits={"email": "two@example.com"})
    [by_email] = _owners(db, "email", "two@example.com")
    [by_user] = _owners(db, "user_id", "u-1")
    track("identify", userId="u-1", traits={"email": "two@example.com"})
    assert _owner_of_last_event(db) == by_user
    assert _owners(db, "email", "two@example.com") == {by_email, by_user}


def test_a_track_naming_two_customers_or_a_new_identifier_follows_the_rules(
    db: Store, track: Tracker
) -> None:
    track("identify", userId="u-1", traits={"email": "one@example.com"})
    track("identify", anonymousId="a-2", traits={"email": "two@example.com"})
    [by_user], [by_anonymous] = _owners(db, "user_id", "u-1"), _owners(db, "anonymous_id", "a-2")
    assert by_user != by_anonymous
    track("track", userId="u-1", anonymousId="a-2", event="Clicked")
    assert _owner_of_last_event(db) == by_user  # the user id ranks first
    track("track", anonymousId="a-2", event="Clicked")
    assert _owner_of_last_event(db) == by_anonymous
    track("track", userId="u-1", anonymousId="a-3", event="Clicked")
    assert _owner_of_last_event(db) == by_user
    assert _owners(db, "anonymous_id", "a-3") == {by_user}  # a new identifier is linked


def test_identifiers_of_a_merged_profile_resolve_to_the_survivor(db: Store, track: Tracker) -> None:
    track("identify", userId="u-1", traits={"email": "one@example.com"})
    track("identify", userId="u-2", traits={"email": "other@example.com"})
    [survivor], [absorbed] = _owners(db, "user_id", "u-1"), _owners(db, "user_id", "u-2")
    reviewer = Principal.system("test", "identity:review")
    with db.sessions.begin() as session:
        merge_customers(
            session, db, survivor_id=survivor, absorbed_id=absorbed, principal=reviewer, reason="r"
        )
    track("track", userId="u-2", event="Bought")
    assert _owner_of_last_event(db) == survivor
    assert _owners(db, "user_id", "u-2") == {absorbed}  # the link itself did not move


def test_external_ids_in_the_context_are_graph_nodes(db: Store, track: Tracker) -> None:
    external = {"externalIds": [{"id": "CRM-1", "type": "crm_id", "collection": "users"}]}
    track("track", userId="u-1", event="Signed In", context=external)
    [customer] = _owners(db, "user_id", "u-1")
    assert _owners(db, "ext:crm_id", "CRM-1") == {customer}
    track("page", anonymousId="anon-5", name="Home", context=external)
    assert _owner_of_last_event(db) == customer

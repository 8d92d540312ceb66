"""Identity over the API: review queue, merge/reject/un-merge, history, and the 360° view
with identifiers shown according to the caller's role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from clientvault.identity.models import Customer, MatchCandidate
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.privacy.models import ConsentRecord
from clientvault.security.models import AuditEntry
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import bearer_headers

EXPLANATION = [
    {"comparison": "first_name", "level": "exact", "weight": 4.5},
    {"comparison": "postal_code", "level": "different", "weight": -1.25},
]
WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def pair(db: Store) -> tuple[uuid.UUID, uuid.UUID, int]:
    """Two profiles of one person, each with an event, one with an order and a consent, and
    the pending match candidate between them."""
    with db.sessions.begin() as session:
        ids = create_customers(
            session,
            db,
            profiles=[
                CustomerCreate(first_name="Zoe", email="zoe@example.com", city="Lyon"),
                CustomerCreate(first_name="Zoe", phone="0612345678", city="Lyon"),
            ],
            source="t",
            default_region="FR",
        )
        left, right = sorted(ids)
        for number, customer_id in enumerate(ids):
            session.execute(
                insert(Event).values(
                    message_id=f"m-{number}",
                    type="track",
                    name=f"Viewed {number}",
                    customer_id=customer_id,
                    occurred_at=WHEN,
                    properties={},
                    context={},
                )
            )
        session.add(
            Order(external_id="o-1", customer_id=ids[1], placed_at=WHEN, total=Decimal("12.50"))
        )
        session.add(
            ConsentRecord(
                customer_id=ids[1],
                purpose="email_marketing",
                decision="granted",
                policy_version="1",
                channel="web",
            )
        )
        candidate = MatchCandidate(
            left_id=left,
            right_id=right,
            match_probability=0.91,
            match_weight=3.25,
            explanation=EXPLANATION,
            model_version="test",
        )
        session.add(candidate)
        session.flush()
        return ids[0], ids[1], candidate.id


def test_review_queue_merge_history_and_unmerge(
    client: TestClient, db: Store, db_settings: Settings, pair: tuple[uuid.UUID, uuid.UUID, int]
) -> None:
    older, newer, candidate_id = pair
    support = bearer_headers(db, db_settings, "support")
    queue = client.get("/api/v1/identity/candidates", headers=support)
    assert queue.status_code == 200, queue.text
    [item] = queue.json()
    assert (item["id"], item["explanation"]) == (candidate_id, EXPLANATION)
    merged = client.post(
        f"/api/v1/identity/candidates/{candidate_id}/merge",
        json={"reason": "same person, same phone"},
        headers=support,
    )
    assert merged.status_code == 200, merged.text
    merge_id = merged.json()["merge_id"]
    assert client.get("/api/v1/identity/candidates", headers=support).json() == []
    history = client.get(f"/api/v1/customers/{newer}/merges", headers=support).json()
    assert [(h["id"], h["survivor_id"]) for h in history] == [(merge_id, str(older))]
    view = client.get(f"/api/v1/customers/{newer}/360", headers=support).json()
    assert view["golden"]["customer_id"] == str(older)
    assert {e["name"] for e in view["events"]} == {"Viewed 0", "Viewed 1"}
    assert [o["external_id"] for o in view["orders"]] == ["o-1"]
    assert [(c["customer_id"], c["purpose"]) for c in view["consents"]] == [
        (str(newer), "email_marketing")
    ]
    assert view["identities"] == {"email": 1, "phone": 1}
    undone = client.post(
        f"/api/v1/identity/merges/{merge_id}/undo", json={"reason": "two people"}, headers=support
    )
    assert undone.status_code == 204, undone.text
    again = client.post(
        f"/api/v1/identity/merges/{merge_id}/undo", json={"reason": "two people"}, headers=support
    )
    assert again.status_code == 409
    with db.sessions() as session:
        assert session.get(Customer, newer).status == "active"
        assert session.get(MatchCandidate, candidate_id).status == "rejected"
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("identity.%"))
        ).all()
    assert sorted(set(actions)) == ["identity.merge", "identity.unmerge"]


def test_reject_and_manual_merge(
    client: TestClient, db: Store, db_settings: Settings, pair: tuple[uuid.UUID, uuid.UUID, int]
) -> None:
    older, newer, candidate_id = pair
    support = bearer_headers(db, db_settings, "support")
    too_short = client.post(
        f"/api/v1/identity/candidates/{candidate_id}/reject", json={"reason": ""}, headers=support
    )
    assert too_short.status_code == 422
    rejected = client.post(
        f"/api/v1/identity/candidates/{candidate_id}/reject",
        json={"reason": "different birth dates"},
        headers=support,
    )
    assert rejected.status_code == 204
    twice = client.post(
        f"/api/v1/identity/candidates/{candidate_id}/merge",
        json={"reason": "x" * 5},
        headers=support,
    )
    assert twice.status_code == 409
    manual = client.post(
        "/api/v1/identity/merges",
        json={"survivor_id": str(newer), "absorbed_id": str(older), "reason": "confirmed by phone"},
        headers=support,
    )
    assert manual.status_code == 200, manual.text
    unknown_field = client.post(
        "/api/v1/identity/merges",
        json={"survivor_id": str(newer), "absorbed_id": str(older), "reason": "abc", "x": 1},
        headers=support,
    )
    assert unknown_field.status_code == 422


def test_360_view_shows_identifiers_according_to_the_role(
    client: TestClient, db: Store, db_settings: Settings, pair: tuple[uuid.UUID, uuid.UUID, int]
) -> None:
    older, _, _ = pair
    analyst = bearer_headers(db, db_settings, "analyst")
    masked = client.get(f"/api/v1/customers/{older}/360", headers=analyst)
    assert masked.status_code == 200, masked.text
    assert masked.json()["golden"]["values"]["email"]["masked"] is True
    assert masked.json()["merges"] is None  # merge history is for identity reviewers
    assert "zoe@example.com" not in masked.text
    refused = client.get(f"/api/v1/customers/{older}/360?reason=curious", headers=analyst)
    assert refused.status_code == 403
    assert client.get("/api/v1/identity/candidates", headers=analyst).status_code == 403
    support = bearer_headers(db, db_settings, "support")
    revealed = client.get(f"/api/v1/customers/{older}/360?reason=ticket 42", headers=support)
    assert revealed.json()["golden"]["values"]["email"]["value"] == "zoe@example.com"
    with db.sessions() as session:
        reasons = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "pii.reveal")
        ).all()
    assert reasons == ["ticket 42"]


def test_console_customer_search_by_email_needs_pii_reveal(
    client: TestClient, db: Store, db_settings: Settings, pair: tuple[uuid.UUID, uuid.UUID, int]
) -> None:
    older, _, _ = pair
    support = bearer_headers(db, db_settings, "support")
    found = client.get("/console/customers?q=ZOE@example.com", headers=support)
    assert found.status_code == 200
    assert f'data-customer="{older}"' in found.text
    assert found.text.count("data-customer=") == 1
    analyst = bearer_headers(db, db_settings, "analyst")
    refused = client.get("/console/customers?q=zoe@example.com", headers=analyst)
    assert "needs the pii:reveal permission" in refused.text
    assert "data-customer=" not in refused.text
    by_id = client.get(f"/console/customers?q={older}", headers=analyst)
    assert f'data-customer="{older}"' in by_id.text


def test_unmerge_from_the_customer_page_returns_to_it(
    client: TestClient, db: Store, db_settings: Settings, pair: tuple[uuid.UUID, uuid.UUID, int]
) -> None:
    older, newer, _ = pair
    support = bearer_headers(db, db_settings, "support")
    merged = client.post(
        "/api/v1/identity/merges",
        json={"survivor_id": str(older), "absorbed_id": str(newer), "reason": "same person"},
        headers=support,
    )
    merge_id = merged.json()["merge_id"]
    page = client.get(f"/console/customers/{newer}", headers=support)
    assert f'action="/console/identity/merges/{merge_id}/undo"' in page.text
    undone = client.post(
        f"/console/identity/merges/{merge_id}/undo",
        data={"reason": "two people", "back": str(newer)},
        headers=support,
        follow_redirects=False,
    )
    assert undone.status_code == 303
    assert undone.headers["location"] == f"/console/customers/{newer}?done=unmerged"
    shown = client.get(undone.headers["location"], headers=support)
    assert "The merge was undone" in shown.text
    again = client.post(
        f"/console/identity/merges/{merge_id}/undo",
        data={"reason": "two people", "back": str(newer)},
        headers=support,
        follow_redirects=False,
    )
    assert again.headers["location"] == f"/console/customers/{newer}?problem=conflict"

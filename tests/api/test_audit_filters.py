"""The audit log for people: filters by actor (e-mail or id), kind of actor, action, customer
and dates; system jobs' reveals summed per run; paging by ``Link``; a CSV export for
auditors that is itself audited — over the API and on the console's page."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from clientvault.app import create_app
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.staff import api_sign_in_with_mfa, bearer_headers, create_staff

CUSTOMER = uuid.UUID("01900000-0000-7000-8000-000000000001")
MATCHER = Principal.system("identity-resolution", "pii:reveal")


def _reveal(db: Store, reason: str) -> None:
    with db.sessions.begin() as session:
        audit.record(
            session,
            principal=MATCHER,
            action="pii.reveal",
            target_type="customer",
            target_ids=[str(uuid.uuid4()) for _ in range(4)],
            reason=reason,
        )


def _seed(db: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """Two runs of a job's reveals (an hour apart: one of one batch, one of two), and a
    person's view of a customer; returns the person's account id."""
    earlier = utcnow() - timedelta(hours=1)
    with monkeypatch.context() as clock:
        clock.setattr(audit, "utcnow", lambda: earlier)
        _reveal(db, "matching batch 1")
    _reveal(db, "matching batch 0")
    _reveal(db, "matching batch 0")
    with db.sessions.begin() as session:
        user = create_staff(session, settings, email="sam@example.com", role="support").user
        session.flush()
        person = Principal(kind="user", id=str(user.id), permissions=frozenset())
        audit.record(
            session,
            principal=person,
            action="customer.viewed",
            target_type="customer",
            target_ids=[str(CUSTOMER)],
        )
    return str(user.id)


def test_the_api_filters_groups_pages_and_exports(
    db: Store, db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = _seed(db, db_settings, monkeypatch)
    auditor = bearer_headers(db, db_settings, "admin")
    today = utcnow().date().isoformat()
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        by_email = client.get("/api/v1/audit", params={"actor": "sam@example.com"}, headers=auditor)
        by_kind = client.get(
            "/api/v1/audit", params={"actor_kind": "system", "limit": 5}, headers=auditor
        )
        following = client.get(by_kind.headers["link"].split(">")[0][1:], headers=auditor)
        by_customer = client.get(
            "/api/v1/audit", params={"customer": str(CUSTOMER)}, headers=auditor
        )
        grouped = client.get(
            "/api/v1/audit", params={"grouped": "true", "since": today}, headers=auditor
        )
        runs = client.get("/api/v1/audit/job-runs", headers=auditor)
        backwards = client.get(
            "/api/v1/audit", params={"since": today, "until": "2000-01-01"}, headers=auditor
        )
        unknown = client.get(
            "/api/v1/audit", params={"actor": "nobody@example.com"}, headers=auditor
        )
        export = client.get(
            "/api/v1/audit/export.csv", params={"action": "pii.reveal"}, headers=auditor
        )
        exported = client.get("/api/v1/audit", params={"action": "audit.exported"}, headers=auditor)
    assert [e["actor_id"] for e in by_email.json()] == [user_id]
    assert len(by_kind.json()) == 5
    assert 'rel="next"' in by_kind.headers["link"]
    assert {e["actor_kind"] for e in by_kind.json() + following.json()} == {"system"}
    assert not {e["id"] for e in by_kind.json()} & {e["id"] for e in following.json()}
    assert [e["action"] for e in by_customer.json()] == ["customer.viewed"]
    assert "pii.reveal" not in {e["action"] for e in grouped.json()}
    assert [(r["job"], r["reason"], r["entries"]) for r in runs.json()] == [
        ("identity-resolution", "matching batch 0", 8),
        ("identity-resolution", "matching batch 1", 4),
    ]
    assert backwards.status_code == 422
    assert unknown.status_code == 422
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert export.headers["content-type"].startswith("text/csv")
    assert len(rows) == 12
    assert {row["action"] for row in rows} == {"pii.reveal"}
    assert all(len(row["entry_hash"]) == 64 for row in rows)
    (entry,) = exported.json()
    assert entry["details"] == {"action": "pii.reveal"}


def test_the_console_page_filters_and_sums_job_runs(
    db: Store, db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(db, db_settings, monkeypatch)
    with db.sessions.begin() as session:
        admin = create_staff(session, db_settings, email="admin@example.com", role="admin").user
        admin.must_change_password = False
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        api_sign_in_with_mfa(client, db, "admin@example.com")
        page = client.get(
            "/console/security/audit", params={"actor": "", "since": "", "customer": ""}
        )
        people = client.get("/console/security/audit", params={"actor_kind": "user"})
        bad = client.get("/console/security/audit", params={"customer": "not-an-id"})
        export = client.get("/console/security/audit/export.csv", params={"actor_kind": "user"})
    assert page.status_code == 200
    assert page.text.count('data-run="identity-resolution"') == 2
    assert 'data-action="pii.reveal"' not in page.text  # summed in the runs instead
    assert 'data-action="customer.viewed"' in people.text
    assert "data-run=" not in people.text
    assert bad.status_code == 422
    assert export.status_code == 200
    assert "customer.viewed" in export.text
    assert "pii.reveal," not in export.text

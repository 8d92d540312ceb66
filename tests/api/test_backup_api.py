"""Backups over the admin API and on the console page, for ``keys:manage`` only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.automation.models import ScheduledJobState
from clientvault.backup.create import create_backup
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.backups import add_backup_operator, remove_default_backups
from support.privacy_core import make_customers, person, prepare
from support.staff import api_sign_in, bearer_headers

PASSWORD = "violet-harbour-tangent-quarry-47"


@pytest.fixture(autouse=True)
def _no_backups_left(db_settings: Settings) -> Iterator[None]:
    """Default backup folders are in the data dir, shared on PostgreSQL: start and end empty."""
    remove_default_backups(db_settings)
    yield
    remove_default_backups(db_settings)


def test_admins_see_backups_and_ask_for_a_backup_or_a_drill(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    prepare(db)
    make_customers(db, person(1))
    made = create_backup(db_settings, "data")
    admin = bearer_headers(db, db_settings, "admin")
    listed = client.get("/api/v1/backups", headers=admin, params={"probe": "true"})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [b["backup_id"] for b in body["backups"]] == [made.backup_id]
    assert body["backups"][0]["complete_on"] == ["local"]
    assert {(t["name"], t["kind"], t["ok"]) for t in body["targets"]} == {
        ("local", "data", True),
        ("local", "keystore", True),
    }
    assert body["last_drill"] is None
    for path in ("/api/v1/backups/run", "/api/v1/backups/drill"):
        assert client.post(path, headers=admin).status_code == 202
    with db.read_sessions() as session:
        rows = session.execute(select(ScheduledJobState.name, ScheduledJobState.next_run_at))
        due = {name: moment for name, moment in rows}
    assert due["backup.create"] <= utcnow()
    assert due["backup.drill"] <= utcnow()

    verified = client.post(f"/api/v1/backups/data/{made.backup_id}/verify", headers=admin)
    assert verified.status_code == 200, verified.text
    assert verified.json()["tables"]["customers"] == 1
    missing = client.post("/api/v1/backups/data/20200101T000000Z-00000000/verify", headers=admin)
    assert missing.status_code == 409
    assert "no data backup" in missing.text
    assert client.post("/api/v1/backups/data/not-an-id/verify", headers=admin).status_code == 422
    for role in ("dpo", "marketer"):
        assert (
            client.get("/api/v1/backups", headers=bearer_headers(db, db_settings, role)).status_code
            == 403
        )


def test_the_console_page_lists_backups_targets_and_the_last_drill(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    made = create_backup(db_settings, "keystore")
    with db.sessions.begin() as session:
        add_backup_operator(session, db_settings, "admin2@example.com")
    csrf = api_sign_in(client, "admin2@example.com", PASSWORD)
    page = client.get("/console/security/backups")
    assert page.status_code == 200, page.text
    assert f'data-backup="{made.backup_id}"' in page.text
    assert 'data-target="local"' in page.text
    assert "No drill yet." in page.text
    assert 'href="/console/security/backups"' in page.text
    assert client.post("/console/security/backups/drill").status_code == 403  # no CSRF token
    asked = client.post(
        "/console/security/backups/drill",
        data={"csrf_token": csrf["x-csrf-token"]},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    assert "A restore drill will start" in client.get(asked.headers["location"]).text

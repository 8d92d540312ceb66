"""Background tasks on a chosen backup over the admin API: a restore into a new database
(never the live one), a drill and a verification, with progress and the checks' results;
permission-checked, one at a time, audited."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from clientvault.app import create_app
from clientvault.backup.create import create_backup
from clientvault.backup.tasks import queue_task
from clientvault.identity.models import Customer
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.backups import (
    add_backup_operator,
    engine_of,
    fresh_database,
    remove_default_backups,
    with_backups,
)
from support.privacy_core import make_customers, person, prepare
from support.staff import api_sign_in_with_mfa, bearer_headers, bearer_token, create_staff

TASKS = "/api/v1/backups/tasks"
PAGE = "/console/security/backups"


@pytest.fixture
def bk_settings(db_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Local backup targets of the test's own; the task records (in the data dir, shared on
    PostgreSQL) removed before and after."""
    remove_default_backups(db_settings)
    yield with_backups(db_settings, tmp_path / "backups")
    remove_default_backups(db_settings)


def _client(db: Store, settings: Settings, role: str) -> TestClient:
    headers = bearer_headers(db, settings, role)
    return TestClient(
        create_app(settings, store=db), base_url="https://testserver", headers=headers
    )


def _finished(client: TestClient, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task: dict[str, Any] = client.get(url).json()
        if task["finished"]:
            return task
        time.sleep(0.1)
    raise AssertionError(f"the task at {url} did not finish in 60 s")


def _run(client: TestClient, **body: Any) -> dict[str, Any]:
    asked = client.post(TASKS, json=body)
    assert asked.status_code == 202, asked.text
    assert asked.headers["location"] == f"{TASKS}/{asked.json()['id']}"
    return _finished(client, asked.headers["location"])


def _actions(db: Store) -> list[str]:
    with db.read_sessions() as session:
        query = select(AuditEntry.action).where(AuditEntry.action.like("backup.%"))
        return list(session.scalars(query.order_by(AuditEntry.id)))


def test_an_admin_restores_drills_and_verifies_a_chosen_backup_in_the_background(
    db: Store, bk_settings: Settings, tmp_path: Path
) -> None:
    prepare(db)
    make_customers(db, person(1), person(2), person(3))
    made = create_backup(bk_settings, "data")
    sqlite = bk_settings.database_url.startswith("sqlite")
    settings = bk_settings
    with fresh_database(bk_settings, tmp_path, "restored") as restored_url:
        name = "restored" if sqlite else make_url(restored_url).database
        if sqlite:
            restored_url = f"sqlite:///{settings.data_dir / 'restores' / 'restored.db'}"
        with _client(db, settings, "admin") as admin:
            restored = _run(admin, action="restore", backup_id=made.backup_id, target=name)
            assert restored["state"] == "done", restored
            assert restored["percent"] == 100
            assert restored["bytes_done"] == restored["bytes_total"] == made.stored_bytes
            result = restored["result"]
            assert result["backup_id"] == made.backup_id
            assert result["rows_checked"] == sum(made.manifest["tables"].values())
            assert result["audit_entries"] > 0
            assert result["sample_decrypted"] is True
            assert any("audit chain verified" in step for step in restored["steps"])
            engine = engine_of(restored_url)
            try:
                with engine.connect() as connection:
                    customers = connection.scalar(select(func.count()).select_from(Customer))
            finally:
                engine.dispose()
            assert customers == 3

            again = admin.post(
                TASKS, json={"action": "restore", "backup_id": made.backup_id, "target": name}
            )
            assert again.status_code == 409, again.text  # the target holds data now
            if not sqlite:  # on SQLite a web restore only ever writes under restores/
                live = make_url(settings.database_url).database
                over_live = admin.post(
                    TASKS, json={"action": "restore", "backup_id": made.backup_id, "target": live}
                )
                assert over_live.status_code == 409, over_live.text
                assert "live data database" in over_live.json()["error"]["message"]

            done = [restored["id"]]
            if sqlite:  # a drill is the same restore, into scratch: PostgreSQL's is above
                drilled = _run(admin, action="drill", backup_id=made.backup_id)
                assert drilled["state"] == "done", drilled
                assert drilled["result"]["rto_seconds"] > 0
                assert drilled["result"]["rpo_seconds"] >= 0
                assert drilled["result"]["sample_decrypted"] is True
                overview = admin.get("/api/v1/backups").json()
                assert overview["last_drill"]["drill_id"] == drilled["result"]["drill_id"]
                done.insert(0, drilled["id"])
            else:  # PostgreSQL drills need an empty database of their own, said at once
                refused = admin.post(TASKS, json={"action": "drill", "backup_id": made.backup_id})
                assert refused.status_code == 409
                assert "backup.drill_url" in refused.json()["error"]["message"]

            verified = _run(admin, action="verify", backup_id=made.backup_id)
            assert verified["state"] == "done", verified
            assert verified["result"]["rows"] == result["rows_checked"]

            root = settings.backup.targets[0].path
            assert root is not None
            chunk = next((root / "data" / made.backup_id / "chunks").iterdir())
            chunk.write_bytes(b"damaged")
            damaged = _run(admin, action="verify", backup_id=made.backup_id)
            assert damaged["state"] == "failed"
            assert chunk.name in damaged["error"]
            listed = admin.get(TASKS).json()
            assert [t["id"] for t in listed] == [damaged["id"], verified["id"], *done]
    actions = _actions(db)
    assert actions.count("backup.task_queued") == len(listed)
    assert {"backup.restored", "backup.verified", "backup.task_failed"} <= set(actions)
    assert ("backup.drill" in actions) is sqlite


def test_tasks_are_for_admins_one_at_a_time_and_refused_before_anything_is_written(
    db: Store, bk_settings: Settings
) -> None:
    prepare(db)
    make_customers(db, person(1))
    made = create_backup(bk_settings, "data")
    with db.sessions.begin() as session:
        operator = add_backup_operator(session, bk_settings, "ops@example.com")
        operator_token = bearer_token(session, bk_settings, operator)
    restore = {"action": "restore", "backup_id": made.backup_id, "target": "copy"}
    with _client(db, bk_settings, "admin") as admin:
        for body, status in (
            ({**restore, "target": "../etc/x"}, 422),
            ({**restore, "target": None}, 422),
            ({**restore, "action": "explode"}, 422),
            ({"action": "drill", "kind": "keystore", "backup_id": made.backup_id}, 422),
            ({**restore, "backup_id": "20200101T000000Z-00000000"}, 409),
        ):
            refused = admin.post(TASKS, json=body)
            assert refused.status_code == status, (body, refused.text)
        assert admin.get(TASKS).json() == []  # nothing recorded
        assert admin.get(f"{TASKS}/20200101T000000Z-00000000").status_code == 404

        waiting = queue_task(
            db,
            bk_settings,
            action="verify",
            kind="data",
            backup_id=made.backup_id,
            target=None,
            by=Principal.system("test"),
        )
        busy = admin.post(TASKS, json={"action": "verify", "backup_id": made.backup_id})
        assert busy.status_code == 409
        assert waiting.id in busy.json()["error"]["message"]
        # Its server died before running it: two minutes on, it shows as interrupted and
        # no longer holds the others up.
        record = bk_settings.data_dir / "backup-tasks" / f"{waiting.id}.json"
        stored = json.loads(record.read_text())
        stored["created_at"] = "2020-01-01T00:00:00+00:00"
        record.write_text(json.dumps(stored))
        assert admin.get(f"{TASKS}/{waiting.id}").json()["state"] == "interrupted"

        ops = {"authorization": f"Bearer {operator_token}"}
        denied = admin.post(TASKS, json=restore, headers=ops)
        assert denied.status_code == 403
        assert "pii:reveal" in denied.json()["error"]["message"]
        asked = admin.post(
            TASKS, json={"action": "verify", "backup_id": made.backup_id}, headers=ops
        )
        assert asked.status_code == 202, asked.text
        assert _finished(admin, asked.headers["location"])["state"] == "done"
        dpo = bearer_headers(db, bk_settings, "dpo")
        assert admin.post(TASKS, json=restore, headers=dpo).status_code == 403
        assert admin.get(TASKS, headers=dpo).status_code == 403
    assert not (bk_settings.data_dir / "restores" / "copy.db").exists()


# The console page does not depend on the database (the API test covers both backends).
@pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)
def test_the_console_restores_a_chosen_backup_into_a_new_file_and_shows_what_was_checked(
    db: Store, bk_settings: Settings
) -> None:
    prepare(db)
    make_customers(db, person(1), person(2))
    made = create_backup(bk_settings, "data")
    with db.sessions.begin() as session:
        create_staff(
            session, bk_settings, email="boss@example.com", role="admin", display_name="Boss"
        ).user.must_change_password = False
    app = create_app(bk_settings, store=db)
    with TestClient(app, base_url="https://testserver") as browser:
        csrf = api_sign_in_with_mfa(browser, db, "boss@example.com")["x-csrf-token"]
        page = browser.get(PAGE)
        assert page.status_code == 200, page.text
        assert "never goes over the live database" in page.text
        assert "clientvault restore --to … --force" in page.text
        for action in ("verify", "drill", "restore"):
            assert f'data-task="{action}"' in page.text
        form = {"action": "restore", "kind": "data", "backup_id": made.backup_id}
        refused = browser.post(f"{PAGE}/tasks", data={**form, "target": "../x", "csrf_token": csrf})
        assert refused.status_code == 422
        assert "target is a file name" in refused.text
        assert browser.post(f"{PAGE}/tasks", data={**form, "target": "copy"}).status_code == 403
        asked = browser.post(
            f"{PAGE}/tasks",
            data={**form, "target": "copy", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert asked.status_code == 303
        task_url = asked.headers["location"]
        assert task_url.startswith(f"{PAGE}/tasks/")
        assert _finished(browser, f"{task_url}/status")["state"] == "done"
        shown = browser.get(task_url)
        assert shown.status_code == 200
        assert "Restored and verified." in shown.text
        assert str(bk_settings.data_dir / "restores" / "copy.db") in shown.text
        assert 'data-result="sample_decrypted">done<' in shown.text
        rows = sum(made.manifest["tables"].values())
        assert f'data-result="rows_checked">{rows:,} rows' in shown.text
        assert "audit chain verified" in shown.text
        listed = browser.get(PAGE).text
        assert f'data-task-id="{task_url.rsplit("/", 1)[1]}" data-state="done"' in listed

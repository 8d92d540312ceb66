"""Background imports over HTTP: ``?background=true`` answers 202 with the job, whose URL
gives its progress and whose error report downloads as CSV."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clientvault.app import create_app
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import bearer_headers

CUSTOMERS = (
    "Ref,E-mail,Prénom,Ville\n"
    "c-1,ann@example.com,Ann,Paris\n"
    "c-2,bob-at-example.com,Bob,Lyon\n"
    "c-3,cy@example.com,Cy,Nice\n"
)


@pytest.fixture
def admin(db: Store, db_settings: Settings) -> Iterator[TestClient]:
    headers = bearer_headers(db, db_settings, "admin")
    app = create_app(db_settings, store=db)
    with TestClient(app, base_url="https://testserver", headers=headers) as test_client:
        yield test_client


def _finished(client: TestClient, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(url).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError("the import did not finish in 30 s")


def test_a_background_upload_answers_202_and_its_job_tells_how_it_went(
    admin: TestClient,
) -> None:
    response = admin.post(
        "/api/v1/imports/customers?background=true",
        files={"file": ("crm.csv", CUSTOMERS.encode(), "text/csv")},
        data={"mapping": '{"email": "E-mail", "firstName": "Prénom", "city": "Ville"}'},
    )
    assert response.status_code == 202
    location = response.headers["location"]
    assert location == f"/api/v1/imports/jobs/{response.json()['id']}"
    assert response.json()["state"] in ("queued", "running", "done")
    job = _finished(admin, location)
    assert job["state"] == "done"
    assert (job["rows"], job["accepted"], job["rejected"]) == (3, 2, 1)
    assert job["ignored_columns"] == ["Ref"]
    assert job["percent"] == 100
    report = admin.get(job["errors_url"])
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    lines = report.text.splitlines()
    assert lines[0] == "row,line,reason"
    assert lines[1].startswith("2,3,")
    assert "bob-at-example.com" not in report.text


def test_background_uploads_check_their_options_first(admin: TestClient) -> None:
    response = admin.post(
        "/api/v1/imports/customers?background=true",
        files={"file": ("crm.csv", CUSTOMERS.encode(), "text/csv")},
        data={"delimiter": ";;"},
    )
    assert response.status_code == 422  # as the same options refused in the foreground
    assert response.json()["error"]["code"] == "invalid_import_options"
    missing = admin.get("/api/v1/imports/jobs/0197a000-0000-7000-8000-000000000000")
    assert missing.status_code == 404

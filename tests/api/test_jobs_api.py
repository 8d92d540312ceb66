"""Scheduled jobs over the API and on the console page, for whoever holds ``settings:manage``."""

from __future__ import annotations

from ipaddress import ip_network

from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.app import create_app
from clientvault.automation.scheduler import Scheduler
from clientvault.domains import JOBS
from clientvault.migrations.schema import load_holders
from clientvault.security.accounts import define_role
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import api_sign_in, bearer_headers, create_staff

PASSWORD = "violet-harbour-tangent-quarry-47"


def test_jobs_are_listed_for_admins_only(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    load_holders()
    Scheduler(db, db_settings, JOBS, owner="host-1:42:abcd").run_due()
    listed = client.get("/api/v1/jobs", headers=bearer_headers(db, db_settings, "admin"))
    assert listed.status_code == 200, listed.text
    jobs = {job["name"]: job for job in listed.json()}
    assert list(jobs) == [job.name for job in JOBS]
    retention = jobs["privacy.retention"]
    assert retention["schedule"] == "every 60 minutes"
    assert (retention["last_status"], retention["run_count"], retention["leased_by"]) == (
        "ok",
        1,
        None,
    )
    assert jobs["automation.outbox-delivery"]["enabled"] is False
    refused = client.get("/api/v1/jobs", headers=bearer_headers(db, db_settings, "marketer"))
    assert refused.status_code == 403


def test_the_console_page_shows_the_jobs(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    with db.sessions.begin() as session:
        define_role(
            session,
            name="operator",
            permissions={"settings:manage"},
            description="runs the installation",
            by=Principal.system("test"),
        )
        create_staff(
            session,
            db_settings,
            email="operator@example.com",
            role="operator",
            password=PASSWORD,
            display_name="Operator",
        ).user.must_change_password = False
    csrf = api_sign_in(client, "operator@example.com", PASSWORD)
    page = client.get("/console/security/jobs")
    assert page.status_code == 200
    for job in JOBS:
        assert f'data-job="{job.name}"' in page.text
    assert page.text.count('data-status="never"') == len(JOBS)
    assert 'href="/console/security/jobs"' in page.text  # in the navigation
    # Run now: a button for each job that is on, a CSRF-checked POST.
    enabled = sum(1 for job in JOBS if job.enabled(db_settings))
    assert page.text.count('action="/console/security/jobs/') == enabled
    run = "/console/security/jobs/privacy.request-deadlines/run"
    assert client.post(run).status_code == 403
    answer = client.post(run, data={"csrf_token": csrf["x-csrf-token"]}, follow_redirects=False)
    assert answer.status_code == 303
    assert (
        "The job privacy.request-deadlines will run" in client.get(answer.headers["location"]).text
    )


def test_the_jobs_are_kept_to_the_admin_networks(db: Store, db_settings: Settings) -> None:
    policy = db_settings.security.model_copy(
        update={"admin_networks": [ip_network("127.0.0.1/32")]}
    )
    app = create_app(db_settings.model_copy(update={"security": policy}), store=db)
    headers = bearer_headers(db, db_settings, "admin")
    for host, status in (("127.0.0.2", 403), ("127.0.0.1", 200)):
        with TestClient(app, base_url="https://testserver", client=(host, 50000)) as client:
            assert client.get("/api/v1/jobs", headers=headers).status_code == status


def test_run_now_makes_a_job_due_once_and_is_audited(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    load_holders()
    worker = Scheduler(db, db_settings, JOBS, owner="host-1:42:abcd")
    worker.run_due()
    assert worker.run_due() == 0  # nothing is due before its next slot
    headers = bearer_headers(db, db_settings, "admin")
    for _ in range(2):  # asking twice still runs it once
        asked = client.post("/api/v1/jobs/privacy.retention/run", headers=headers)
        assert asked.status_code == 202, asked.text
    assert worker.run_due() == 1
    listed = {job["name"]: job for job in client.get("/api/v1/jobs", headers=headers).json()}
    assert listed["privacy.retention"]["run_count"] == 2
    with db.read_sessions() as session:
        asked_by = session.scalars(
            select(AuditEntry.target_id).where(AuditEntry.action == "job.run_requested")
        ).all()
    assert asked_by == ["privacy.retention", "privacy.retention"]

    unknown = client.post("/api/v1/jobs/no.such-job/run", headers=headers)
    assert unknown.status_code == 404
    turned_off = client.post("/api/v1/jobs/automation.outbox-delivery/run", headers=headers)
    assert turned_off.status_code == 409
    bad_name = client.post("/api/v1/jobs/Robert'); DROP TABLE/run", headers=headers)
    assert bad_name.status_code in {404, 422}
    marketer = bearer_headers(db, db_settings, "marketer")
    assert client.post("/api/v1/jobs/privacy.retention/run", headers=marketer).status_code == 403

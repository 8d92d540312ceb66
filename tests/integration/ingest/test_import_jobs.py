"""Background imports (``ingest.import_jobs``): a saved upload imported by a job whose row
carries its progress and counts, its error report kept, its file deleted once done, and an
interrupted job resumed without storing anything twice."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from clientvault.errors import InvalidInput
from clientvault.identity.models import Customer
from clientvault.ingest.bulk_import import import_customers
from clientvault.ingest.import_jobs import (
    STALE_AFTER,
    create_job,
    get_job,
    job_view,
    report_file,
    resume_job,
    run_job,
    upload_file,
)
from clientvault.ingest.models import ImportJob
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

ADMIN = Principal(kind="user", id="importer", permissions=frozenset({"customers:write"}))
CSV = (
    "id,email,first_name,phone,city\n"
    "c-1,ann@example.com,Ann,0612345678,Paris\n"
    "c-2,not-an-address,Bob,,Lyon\n"
    "c-3,cy@example.com,Cy,,Nice\n"
)


def _queue(db: Store, settings: Settings, content: str, **options: object) -> ImportJob:
    with db.sessions.begin() as session:
        job = create_job(
            session,
            settings,
            kind="customers",
            upload=io.BytesIO(content.encode()),
            file_name="../customers.csv",
            source="crm",
            options=dict(options),
            by=ADMIN,
        )
        session.flush()
        session.expunge(job)
    return job


def _job(db: Store, settings: Settings, job: ImportJob) -> tuple[ImportJob, str]:
    with db.sessions() as session:
        found = get_job(session, job.id)
        return found, job_view(settings, found).state


def test_a_job_imports_its_file_counts_as_it_goes_and_keeps_the_error_report(
    db: Store, db_settings: Settings
) -> None:
    job = _queue(db, db_settings, CSV)
    assert job.file_name == "customers.csv"  # the name only, never a path
    assert upload_file(db_settings, job.id).stat().st_mode & 0o077 == 0
    run_job(db, db_settings, job.id)

    found, state = _job(db, db_settings, job)
    assert state == "done"
    assert (found.rows, found.accepted, found.rejected, found.customers_created) == (3, 2, 1, 2)
    assert found.bytes_read == found.bytes_total == len(CSV.encode())
    assert found.ignored_columns == []
    assert not upload_file(db_settings, job.id).exists()  # personal data not kept once done
    with report_file(db_settings, job.id).open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "line", "reason"]
    assert [row[:2] for row in rows[1:]] == [["2", "3"]]
    assert "e-mail" in rows[1][2]
    assert "not-an-address" not in rows[1][2]
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 2
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_id == str(job.id))
        ).all()
    assert actions == ["import.queued"]
    run_job(db, db_settings, job.id)  # a job runs once: a second run claims nothing
    assert _job(db, db_settings, job)[0].accepted == 2


def test_an_interrupted_job_resumes_and_skips_what_was_stored(
    db: Store, db_settings: Settings
) -> None:
    job = _queue(db, db_settings, CSV, delimiter=",")
    # The first rows were stored before the server stopped mid-import.
    import_customers(db, stream=io.BytesIO(CSV.encode()), default_region="FR", source="crm")
    stale = utcnow() - STALE_AFTER - timedelta(seconds=5)
    with db.sessions.begin() as session:
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == job.id)
            .values(status="running", started_at=stale, heartbeat_at=stale, bytes_read=40)
        )
    assert _job(db, db_settings, job)[1] == "interrupted"
    run_job(db, db_settings, job.id)  # not queued: nothing runs
    assert _job(db, db_settings, job)[1] == "interrupted"

    with db.sessions.begin() as session:
        resume_job(session, db_settings, job.id, by=ADMIN)
    run_job(db, db_settings, job.id)
    found, state = _job(db, db_settings, job)
    assert state == "done"
    assert (found.accepted, found.duplicates, found.rejected) == (0, 2, 1)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 2
        with pytest.raises(InvalidInput, match="interrupted or failed"):
            resume_job(session, db_settings, job.id, by=ADMIN)


def test_a_file_that_cannot_be_imported_fails_the_job_with_its_reason(
    db: Store, db_settings: Settings
) -> None:
    job = _queue(db, db_settings, "id,email\n")
    run_job(db, db_settings, job.id)
    found, state = _job(db, db_settings, job)
    assert state == "failed"
    assert found.error == "the file has a header but no data rows"
    assert not upload_file(db_settings, job.id).exists()  # the same file would fail again
    with db.sessions() as session, pytest.raises(InvalidInput, match="file is kept"):
        resume_job(session, db_settings, job.id, by=ADMIN)

    mapped = _queue(db, db_settings, CSV, mapping={"email": "E-mail"})
    run_job(db, db_settings, mapped.id)
    found, state = _job(db, db_settings, mapped)
    assert state == "failed"
    assert found.error is not None
    assert "E-mail" in found.error

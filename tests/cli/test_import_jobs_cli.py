"""``clientvault import jobs``: the background imports (console and API uploads) listed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.cli.common import console
from clientvault.ingest.import_jobs import create_job, report_file, run_job
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store

CSV = "id,email\nc-1,ann@example.com\nc-2,not-an-address\n"


def test_background_imports_are_listed_with_their_state_counts_and_report(
    data_dir: Path, db: Store, db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rich fixes a console's width when it is made (at import, before this test's COLUMNS):
    # a wide one for this test, so the long report path stays on one line to compare.
    monkeypatch.setattr(console, "_width", 400)
    runner = CliRunner()
    empty = runner.invoke(
        app, ["import", "jobs", "--data-dir", str(data_dir)], env={"COLUMNS": "200"}
    )
    assert empty.exit_code == 0
    assert "No background import." in empty.output
    with db.sessions.begin() as session:
        job = create_job(
            session,
            db_settings,
            kind="customers",
            upload=io.BytesIO(CSV.encode()),
            file_name="crm.csv",
            source="crm",
            options={},
            by=Principal(kind="user", id="importer"),
        )
        job_id = job.id
    run_job(db, db_settings, job_id)

    listed = runner.invoke(
        app, ["import", "jobs", "--data-dir", str(data_dir)], env={"COLUMNS": "400"}
    )
    assert listed.exit_code == 0
    row = next(line for line in listed.output.splitlines() if str(job_id) in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[1:7] == [str(job_id), "crm.csv", "done", "2", "1", "1"]
    assert cells[7] == str(report_file(db_settings, job_id))

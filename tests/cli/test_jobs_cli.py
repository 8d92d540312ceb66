"""``clientvault jobs list``: every scheduled job, its schedule and how its last run went."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientvault.automation.scheduler import Scheduler
from clientvault.cli.app import app
from clientvault.cli.common import console
from clientvault.domains import JOBS
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

runner = CliRunner()


def _list(data_dir: Path) -> str:
    result = runner.invoke(app, ["jobs", "list", "--data-dir", str(data_dir)], terminal_width=250)
    assert result.exit_code == 0, result.output
    return result.output


def test_jobs_are_listed_with_their_last_run(
    data_dir: Path, db: Store, db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 250)  # one table row per line
    before = _list(data_dir)
    for job in JOBS:
        assert job.name in before
    assert "never run" in before
    assert "every 5 seconds (off)" in before  # outbox delivery: SMTP is off

    def broken(store: Store, settings: Settings) -> None:
        raise LookupError("no such template")

    failing = ScheduledJob(
        name="privacy.request-deadlines",  # a listed job's row, run by a test double's body
        description="",
        schedule=lambda settings: f"every {settings.privacy.deadline_check_minutes} minutes",
        run=broken,
        lease=JOBS[0].lease,
    )
    Scheduler(db, db_settings, [failing], owner="host-1:42:abcd").run_due()
    after = _list(data_dir)
    row = next(line for line in after.splitlines() if "privacy.request-deadlines" in line)
    assert "failed: LookupError: no such template" in row
    assert "every 15 minutes" in row

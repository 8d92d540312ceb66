"""``clientvault identity resolve`` through the real CLI on a real installation."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.identity.models import Customer
from clientvault.settings import Settings
from clientvault.store.context import open_store
from support.matching_people import plant

runner = CliRunner()


def test_resolve_merges_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "install"
    assert runner.invoke(app, ["init", "--data-dir", str(path)]).exit_code == 0
    store = open_store(Settings(env="test", data_dir=path))
    try:
        with store.sessions.begin() as session:
            planted = plant(session, store, count=800, duplicates=80, seed=3)
    finally:
        store.close()

    result = runner.invoke(app, ["identity", "resolve", "--data-dir", str(path)])

    shown = " ".join(result.output.split())
    assert result.exit_code == 0, shown
    assert "Matched 880 active profiles with model v1" in shown
    merged = re.search(r"auto-merged ([\d,]+); queued for review ([\d,]+)", shown)
    assert merged is not None, shown
    store = open_store(Settings(env="test", data_dir=path))
    try:
        with store.read_sessions() as session:
            absorbed = session.scalar(
                select(func.count()).select_from(Customer).where(Customer.status == "merged")
            )
    finally:
        store.close()
    assert absorbed == int(merged.group(1).replace(",", ""))
    assert 0.9 * len(planted.pairs) <= absorbed <= len(planted.pairs)


def test_resolve_refuses_thresholds_in_the_wrong_order(tmp_path: Path) -> None:
    path = tmp_path / "install"
    assert runner.invoke(app, ["init", "--data-dir", str(path)]).exit_code == 0
    result = runner.invoke(
        app,
        ["identity", "resolve", "--data-dir", str(path), "--auto-merge", "0.5", "--review", "0.9"],
    )
    assert result.exit_code == 1
    assert "thresholds must satisfy" in " ".join(result.output.split())

"""``clientvault backup create|list|verify|prune|health|key`` and ``clientvault restore``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientvault.backup.restore import MARK_SUFFIX
from clientvault.cli.app import app
from clientvault.cli.common import console
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.backups import remove_default_backups
from support.privacy_core import make_customers, person, prepare

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_backups_left(db_settings: Settings) -> Iterator[None]:
    """Default backup folders are in the data dir, shared on PostgreSQL: start and end empty."""
    remove_default_backups(db_settings)
    yield
    remove_default_backups(db_settings)


def _run(*arguments: str, code: int = 0) -> str:
    result = runner.invoke(app, list(arguments), terminal_width=250)
    assert result.exit_code == code, result.output
    return result.output


def test_back_up_list_verify_restore_and_prune_from_the_command_line(
    data_dir: Path,
    db: Store,
    db_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(console, "width", 250)
    prepare(db)
    make_customers(db, person(1), person(2))
    where = ("--data-dir", str(data_dir))
    made = _run("backup", "create", *where)
    assert "data: backup" in made
    assert "keystore: backup" in made
    assert "complete on local" in made
    listed = _run("backup", "list", *where)
    backup_id = next(word for word in listed.split() if word[:8].isdigit() and "T" in word)
    assert "local" in listed
    assert f"Backup {backup_id} verified" in _run("backup", "verify", *where)
    if db_settings.database_url.startswith("sqlite"):
        target = tmp_path / "restored.db"
        restored = _run("restore", "--to", str(target), *where)
        assert f"Restored {backup_id}" in restored
        assert "sample decrypt done" in restored
        refused = _run("restore", "--to", str(target), *where, code=1)
        assert "needs --force" in " ".join(refused.split())
    assert "removed 0 backup" in _run("backup", "prune", *where)
    assert "age recipient: age1" in _run("backup", "key", *where)
    register = tmp_path / "register.json"
    _run("backup", "tombstones", "-o", str(register), *where)
    reapplied = _run("backup", "reapply-erasures", "--tombstones", str(register), *where)
    assert "0 register row(s) added, 0 customer(s) erased again" in reapplied
    health = _run("backup", "health", *where)
    assert "local: ok" in health
    assert "last drill: never" in health
    # Errors go to the error console, wrapped at its own width: compared as words.
    live = _run("restore", "--to", db_settings.database_url, *where, code=1)
    assert "needs --force" in " ".join(live.split())
    _run("backup", "list", "--kind", "nothing", *where, code=2)


def test_the_worker_refuses_a_database_whose_restore_did_not_finish(
    data_dir: Path, db_settings: Settings
) -> None:
    if not db_settings.database_url.startswith("sqlite"):
        pytest.skip("the SQLite marker file; PostgreSQL's mark is tested with the restores")
    (data_dir / f"clientvault.db{MARK_SUFFIX}").write_text("{}")
    refused = _run("worker", "--data-dir", str(data_dir), code=2)
    assert "a restore into it did not finish" in " ".join(refused.split())

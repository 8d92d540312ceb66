"""``clientvault audit verify`` and ``audit head`` through the real CLI on a real installation.

The database file is edited with the ``sqlite3`` module while no clientvault process has it
open, as someone with access to the server's disk could; the command must name the entry
where the chain breaks, say what happened to it, and exit 1.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import open_store

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    """Exit code, standard output, and everything shown (stdout and stderr) on one line."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, " ".join(result.output.split())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An installation made by ``clientvault init``, with ten more audit entries."""
    path = tmp_path / "install"
    code, _, shown = _run("init", "--data-dir", str(path))
    assert code == 0, shown
    store = open_store(Settings(env="test", data_dir=path))
    try:
        for i in range(10):
            with store.sessions.begin() as session:
                audit.record(
                    session,
                    principal=Principal.system("test"),
                    action="export.created",
                    target_type="customer",
                    target_ids=[str(uuid.uuid4())],
                    reason=f"case {i}",
                )
    finally:
        store.close()  # checkpoints the WAL: the file alone holds everything
    return path


def _ids(data_dir: Path) -> list[int]:
    with closing(sqlite3.connect(data_dir / "clientvault.db")) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM audit_log ORDER BY id")]


def _edit(data_dir: Path, *statements: str) -> None:
    with closing(sqlite3.connect(data_dir / "clientvault.db")) as connection:
        # Someone with the file can drop the append-only triggers first; the chain remains.
        for operation in ("update", "delete"):
            connection.execute(f"DROP TRIGGER IF EXISTS audit_log_refuse_{operation}")
        for statement in statements:
            connection.execute(statement)
        connection.commit()


def test_an_intact_log_verifies_and_its_head_prints_alone(data_dir: Path) -> None:
    code, stdout, head_shown = _run("audit", "head", "--data-dir", str(data_dir))
    assert code == 0
    head = stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", head)
    assert "verify --expected-head" in head_shown

    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0, shown
    assert f"Audit log intact: {len(_ids(data_dir))} entries, head {head}" in shown

    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir), "--expected-head", head)
    assert code == 0, shown
    assert "contains the expected head" in shown


def test_an_edited_entry_is_named(data_dir: Path) -> None:
    ids = _ids(data_dir)
    _edit(data_dir, f"UPDATE audit_log SET reason = 'nothing to see' WHERE id = {ids[5]}")
    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1
    assert f"entry #{ids[5]} (after 5 entries intact)" in shown
    assert "it was edited" in shown
    assert "Traceback" not in shown


def test_a_deleted_entry_is_named_by_the_one_after_it(data_dir: Path) -> None:
    ids = _ids(data_dir)
    _edit(data_dir, f"DELETE FROM audit_log WHERE id = {ids[3]}")
    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1
    assert f"entry #{ids[4]} (after 3 entries intact)" in shown
    assert "an entry before it was deleted" in shown


def test_reordered_entries_are_named(data_dir: Path) -> None:
    ids = _ids(data_dir)
    a, b = ids[2], ids[7]
    _edit(
        data_dir,
        f"UPDATE audit_log SET id = -1 WHERE id = {a}",
        f"UPDATE audit_log SET id = {a} WHERE id = {b}",
        f"UPDATE audit_log SET id = {b} WHERE id = -1",
    )
    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1
    assert f"entry #{a} (after 2 entries intact)" in shown
    assert f"written after entry #{b - 1}, so entries were reordered" in shown


def test_cutting_off_the_newest_entries_needs_the_exported_head(data_dir: Path) -> None:
    _, stdout, _ = _run("audit", "head", "--data-dir", str(data_dir))
    exported = stdout.strip()
    ids = _ids(data_dir)
    _edit(data_dir, f"DELETE FROM audit_log WHERE id >= {ids[-2]}")

    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0, shown  # what is left is a valid chain...
    code, _, shown = _run(
        "audit", "verify", "--data-dir", str(data_dir), "--expected-head", exported
    )
    assert code == 1  # ...that no longer reaches the head exported before the cut
    assert "the exported head is no longer in the chain" in shown
    assert "the newest entries were deleted or rewritten" in shown


def test_a_malformed_expected_head_is_a_usage_error(data_dir: Path) -> None:
    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir), "--expected-head", "abc")
    assert code == 2
    assert "64 hexadecimal characters" in shown

"""``clientvault audit verify`` and ``audit head`` through the real CLI on a real installation.

The database file is edited with the ``sqlite3`` module while no clientvault process has it
open, as someone with access to the server's disk could; the command must name the entry
where the chain breaks, say what happened to it, and exit 1.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.security import audit
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import open_store

runner = CliRunner()


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Exit code, standard output, and everything shown (stdout and stderr) on one line."""
    result = runner.invoke(app, list(args), env=env)
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
                    action="pii.reveal" if i % 3 == 0 else "export.created",
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
    assert "it was edited, or rehashed without the audit key" in shown
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


def test_the_issues_attack_is_caught_without_an_exported_head(data_dir: Path) -> None:
    """Issue 16, finding 5: drop the triggers, delete every ``pii.*`` entry, recompute the
    hashes with the public code; ``audit verify`` alone now says the log is broken."""
    _edit(data_dir, "DELETE FROM audit_log WHERE action LIKE 'pii.%'")
    _rehash_with_the_public_code(data_dir)

    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1
    assert "no entry is keyed with this installation's audit key" in shown


def _rehash_with_the_public_code(data_dir: Path) -> None:
    """Recompute the whole chain with plain SHA-256 over the entries' canonical form, as
    anyone can without the key file (and as the chain was computed before it was keyed)."""
    engine = create_engine(f"sqlite:///{data_dir / 'clientvault.db'}")
    with Session(engine) as session, session.begin():
        previous = audit.GENESIS
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all():
            entry.previous_hash = previous
            message = previous.encode() + b"\n" + audit.canonical(entry)
            entry.entry_hash = previous = hashlib.sha256(message).hexdigest()
    engine.dispose()


def test_checkpoints_catch_cut_off_entries_by_default(data_dir: Path, tmp_path: Path) -> None:
    offsite = tmp_path / "offsite"
    offsite.mkdir()
    env = {"CLIENTVAULT_AUDIT__CHECKPOINT_DIR": str(offsite)}
    code, _, shown = _run("audit", "checkpoint", "--data-dir", str(data_dir), env=env)
    assert code == 0, shown
    ids = _ids(data_dir)
    assert f"Checkpoint of entry #{ids[-1]}" in shown
    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir), env=env)
    assert code == 0, shown
    assert "Checked against 1 signed checkpoints" in shown

    _edit(data_dir, f"DELETE FROM audit_log WHERE id >= {ids[-2]}")
    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir), env=env)
    assert code == 1
    assert "the chain ends before the entry of a signed checkpoint" in shown


def test_checkpoint_without_a_target_is_a_configuration_error(data_dir: Path) -> None:
    code, _, shown = _run("audit", "checkpoint", "--data-dir", str(data_dir))
    assert code == 2
    assert "CLIENTVAULT_AUDIT__CHECKPOINT_DIR" in shown


def test_cutting_off_the_newest_entries_without_checkpoints_needs_the_exported_head(
    data_dir: Path,
) -> None:
    _, stdout, _ = _run("audit", "head", "--data-dir", str(data_dir))
    exported = stdout.strip()
    ids = _ids(data_dir)
    _edit(data_dir, f"DELETE FROM audit_log WHERE id >= {ids[-2]}")

    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0, shown  # what is left is a valid chain...
    assert "No checkpoint directory is configured" in shown
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


def test_an_upgraded_installation_is_sealed_by_migrate(data_dir: Path, tmp_path: Path) -> None:
    """An installation of the previous version: its chain in plain SHA-256, as written then
    (made here by re-hashing a new one, the triggers dropped to allow it)."""
    _edit(data_dir)
    _rehash_with_the_public_code(data_dir)
    legacy = len(_ids(data_dir))
    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1
    assert "`clientvault migrate` seals it" in shown

    offsite = tmp_path / "offsite"
    offsite.mkdir()
    env = {"CLIENTVAULT_AUDIT__CHECKPOINT_DIR": str(offsite)}
    code, _, shown = _run("migrate", "--data-dir", str(data_dir), env=env)
    assert code == 0, shown
    code, _, shown = _run("audit", "verify", "--data-dir", str(data_dir), env=env)
    assert code == 0, shown
    assert f"Audit log intact: {legacy + 1} entries" in shown  # the old ones and the seal
    assert f"The first {legacy} entries were written before the chain was keyed" in shown
    assert "Checked against 1 signed checkpoints" in shown  # migrate took the first one

"""SIGKILL in the middle of a backup or a restore: nothing lists as complete; the target of
a restore is left marked unusable, never half-restored and silent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, LargeBinary, MetaData, Table, insert, inspect

from clientvault.backup.catalogue import list_backups
from clientvault.backup.create import create_backup
from clientvault.backup.errors import BackupRefused
from clientvault.backup.restore import MARK_SUFFIX, MARK_TABLE, check_restore_marks, restore
from clientvault.backup.targets import targets_for
from clientvault.errors import ConfigurationError
from clientvault.privacy.erasure import tombstone_snapshot
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.backups import engine_of, fresh_database
from support.privacy_core import DPO, prepare
from support.serving import server_environment

KILL_WAIT_S = 60
#: What the killed processes run: the library calls the CLI makes, without loading the faces
#: (the CLI's start-up alone takes seconds on a loaded machine; the commands are tested apart).
BACK_UP = """
from clientvault.backup.create import create_backup
from clientvault.settings import Settings
create_backup(Settings(data_dir=DATA_DIR), "data")
"""
RESTORE = """
import json, sys
import clientvault.migrations.install
from clientvault.backup.restore import restore
from clientvault.migrations.schema import load_holders
from clientvault.security.principal import Principal
from clientvault.settings import Settings
load_holders()
restore(
    Settings(data_dir=DATA_DIR),
    target_url=sys.argv[1],
    tombstones=json.load(open(sys.argv[2])),
    principal=Principal.system("test", "privacy:manage", "pii:reveal"),
)
"""


def _python(script: str, settings: Settings, *arguments: str) -> list[str]:
    code = script.replace("DATA_DIR", repr(str(settings.data_dir)))
    return [sys.executable, "-c", code, *arguments]


def _ballast(store: Store, mib: int) -> None:
    """Incompressible bytes in a table of its own, so the work takes many chunks."""
    table = Table("ballast", MetaData(), Column("data", LargeBinary))
    with store.engine.begin() as connection:
        table.create(connection)
        connection.execute(insert(table), [{"data": os.urandom(1 << 20)} for _ in range(mib)])


def _environment(settings: Settings) -> dict[str, str]:
    backup = settings.backup
    environment = server_environment(settings)
    environment["CLIENTVAULT_BACKUP__TARGETS"] = json.dumps(
        [{"name": t.name, "path": str(t.path)} for t in backup.targets]
    )
    environment["CLIENTVAULT_BACKUP__KEY_FILE"] = str(backup.key_file)
    environment["CLIENTVAULT_BACKUP__SCRATCH_DIR"] = str(backup.scratch_dir)
    environment["CLIENTVAULT_BACKUP__CHUNK_MIB"] = "1"
    return environment


def _kill_when(command: list[str], environment: dict[str, str], appeared: object) -> int:
    """Run ``command``, SIGKILL it as soon as ``appeared()`` holds; its return code."""
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline and process.poll() is None:
        if appeared():  # type: ignore[operator]
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    return process.wait()


@pytest.fixture
def sqlite_only(bk_settings: Settings) -> Settings:
    if not bk_settings.database_url.startswith("sqlite"):
        pytest.skip("the SQLite file's marks; PostgreSQL's mark is a table, checked in its test")
    return bk_settings


def test_a_backup_killed_midway_lists_as_partial_and_the_next_one_completes(
    db: Store, sqlite_only: Settings
) -> None:
    settings = sqlite_only
    _ballast(db, 3)
    root = settings.backup.targets[0].path
    assert root is not None

    def chunk_written() -> bool:
        return any((root / "data").glob("*/chunks/*.age")) if (root / "data").exists() else False

    code = _kill_when(_python(BACK_UP, settings), _environment(settings), chunk_written)
    assert code == -signal.SIGKILL
    targets = targets_for(settings, "data")
    [partial] = list_backups(targets, "data")
    assert not partial.complete
    assert partial.partial_on == ["disk1"]
    done = create_backup(settings, "data")
    assert [e.backup_id for e in list_backups(targets, "data") if e.complete] == [done.backup_id]


def test_a_restore_killed_midway_leaves_the_target_marked_unusable(
    db: Store, sqlite_only: Settings, tmp_path: Path
) -> None:
    settings = sqlite_only
    prepare(db)
    _ballast(db, 3)
    create_backup(settings, "data")
    register = tmp_path / "register.json"
    with db.read_sessions() as session:
        register.write_text(json.dumps(tombstone_snapshot(session)))
    target = tmp_path / "restored.db"
    marker = Path(f"{target}{MARK_SUFFIX}")
    command = _python(RESTORE, settings, f"sqlite:///{target}", str(register))
    code = _kill_when(command, _environment(settings), marker.exists)
    assert code == -signal.SIGKILL
    assert marker.exists()
    assert not target.exists()
    with pytest.raises(ConfigurationError, match="did not finish"):
        check_restore_marks(f"sqlite:///{target}")
    # Restoring again (the path still holds nothing) finishes and removes the mark.
    restore(
        settings,
        target_url=f"sqlite:///{target}",
        tombstones=json.loads(register.read_text()),
        principal=DPO,
    )
    assert target.exists()
    assert not marker.exists()
    check_restore_marks(f"sqlite:///{target}")
    assert not list(tmp_path.glob("restored.db.restoring*"))


def test_a_postgresql_restore_killed_midway_leaves_the_database_marked(
    db: Store, bk_settings: Settings, tmp_path: Path
) -> None:
    if bk_settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's mark is a table in the target database")
    prepare(db)
    create_backup(bk_settings, "data")
    register = tmp_path / "register.json"
    with db.read_sessions() as session:
        register.write_text(json.dumps(tombstone_snapshot(session)))
    with fresh_database(bk_settings, tmp_path) as url:
        engine = engine_of(url)

        def marked() -> bool:
            with engine.connect() as connection:
                return MARK_TABLE in inspect(connection).get_table_names()

        try:
            code = _kill_when(
                _python(RESTORE, bk_settings, url, str(register)), _environment(bk_settings), marked
            )
        finally:
            engine.dispose()
        assert code == -signal.SIGKILL
        with pytest.raises(ConfigurationError, match="did not finish"):
            check_restore_marks(url)
        # Restoring again over it needs --force (it holds the mark, maybe more), then finishes.
        with pytest.raises(BackupRefused, match="needs --force"):
            restore(
                bk_settings,
                target_url=url,
                tombstones=json.loads(register.read_text()),
                principal=DPO,
            )
        restore(
            bk_settings,
            target_url=url,
            tombstones=json.loads(register.read_text()),
            principal=DPO,
            force=True,
        )
        check_restore_marks(url)

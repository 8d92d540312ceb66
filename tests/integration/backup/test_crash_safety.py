"""SIGKILL in the middle of a backup or a restore: nothing lists as complete; the target of
a restore is left marked unusable, never half-restored and silent."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
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

KILL_WAIT_S = 60
#: The killed process is a fork of the test's: everything is imported already (a fresh
#: interpreter's start-up takes seconds on a loaded machine), and SIGKILL is as abrupt.
FORK = multiprocessing.get_context("fork")


_BALLAST = Table("ballast", MetaData(), Column("data", LargeBinary))


def _ballast(store: Store, mib: int) -> None:
    """Incompressible bytes in a table of its own, so the work takes many chunks."""
    with store.engine.begin() as connection:
        _BALLAST.create(connection)
        connection.execute(insert(_BALLAST), [{"data": os.urandom(1 << 20)} for _ in range(mib)])


@contextmanager
def _ballasted(store: Store, mib: int) -> Iterator[None]:
    """``_ballast``, dropped afterwards (the PostgreSQL test database is shared)."""
    _ballast(store, mib)
    try:
        yield
    finally:
        with store.engine.begin() as connection:
            _BALLAST.drop(connection)


def _kill_when(work: Callable[[], object], appeared: Callable[[], bool]) -> int | None:
    """Run ``work`` in a forked process, SIGKILL it as soon as ``appeared()`` holds; its
    exit code (``-SIGKILL`` when killed)."""
    process = FORK.Process(target=work, daemon=True)
    process.start()
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline and process.is_alive():
        if appeared():
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    process.join()
    return process.exitcode


@pytest.fixture
def sqlite_only(bk_settings: Settings) -> Settings:
    if not bk_settings.database_url.startswith("sqlite"):
        pytest.skip("the SQLite file's marks; PostgreSQL's mark is a table, checked in its test")
    return bk_settings


def test_a_backup_killed_midway_lists_as_partial_and_the_next_one_completes(
    db: Store, bk_settings: Settings
) -> None:
    settings = bk_settings
    root = settings.backup.targets[0].path
    assert root is not None

    def chunk_written() -> bool:
        return any((root / "data").glob("*/chunks/*.age")) if (root / "data").exists() else False

    with _ballasted(db, 3):
        code = _kill_when(partial(create_backup, settings, "data"), chunk_written)
        assert code == -signal.SIGKILL
        targets = targets_for(settings, "data")
        [unfinished] = list_backups(targets, "data")
        assert not unfinished.complete
        assert unfinished.partial_on == ["disk1"]
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
    work = partial(
        restore,
        settings,
        target_url=f"sqlite:///{target}",
        tombstones=json.loads(register.read_text()),
        principal=DPO,
    )
    code = _kill_when(work, marker.exists)
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
            work = partial(
                restore,
                bk_settings,
                target_url=url,
                tombstones=json.loads(register.read_text()),
                principal=DPO,
            )
            code = _kill_when(work, marked)
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

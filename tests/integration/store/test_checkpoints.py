"""SQLite's WAL is checkpointed by the store's own thread, not inside a commit."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from clientvault.migrations.install import initialise
from clientvault.settings import Settings
from clientvault.store.checkpoints import FALLBACK_PAGES, BackgroundCheckpoints, truncate_wal
from clientvault.store.engine import make_engine


def _rows_in_database_file(database: Path, scratch: Path) -> int:
    """Rows of ``t`` in the database file alone: what checkpoints copied out of the WAL."""
    copy = scratch / "copy.db"
    shutil.copyfile(database, copy)  # without its -wal file
    with sqlite3.connect(copy) as connection:
        tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'")
        if tables.fetchone()[0] == 0:
            return 0
        count: int = connection.execute("SELECT count(*) FROM t").fetchone()[0]
    copy.unlink()
    return count


def test_committed_pages_reach_the_database_file_in_the_background(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{database}", synchronous="NORMAL")
    checkpoints = BackgroundCheckpoints(engine, interval=0.05)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (v BLOB)")
            connection.execute(  # ~250 pages: under both automatic thresholds
                text("INSERT INTO t VALUES (randomblob(4000))"), [{}] * 250
            )
        deadline = time.monotonic() + 10
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        while _rows_in_database_file(database, scratch) < 250 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _rows_in_database_file(database, scratch) == 250
    finally:
        checkpoints.stop()
        engine.dispose()


def test_the_log_starts_over_under_a_writer_that_never_pauses(tmp_path: Path) -> None:
    """A PASSIVE checkpoint alone never lets the WAL restart while transactions follow each
    other; the round's FULL checkpoint does, so the file stays near ``reset_pages``."""
    database = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{database}", synchronous="NORMAL")
    checkpoints = BackgroundCheckpoints(engine, interval=0.01, reset_pages=100)

    @event.listens_for(engine, "connect")
    def _no_automatic_checkpoint(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")  # only the thread checkpoints

    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (v BLOB)")
        for _ in range(100):  # ~5,000 pages, one transaction right after the other
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (randomblob(4000))"), [{}] * 50)
            time.sleep(0.001)
        wal_pages = (tmp_path / "x.db-wal").stat().st_size // 4096
    finally:
        checkpoints.stop()
        engine.dispose()
    assert wal_pages < 2_500


def test_store_connections_keep_the_automatic_checkpoint_as_a_fallback(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    store = initialise(Settings(env="test", data_dir=tmp_path))
    started = [t for t in set(threading.enumerate()) - before if "wal" in t.name]
    try:
        with store.engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        with store.keystore.engine.connect() as connection:
            keystore_pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    finally:
        store.close()
    assert pages == FALLBACK_PAGES
    assert keystore_pages == 1000  # the keystore has no thread: SQLite's default
    assert len(started) == 1
    assert not started[0].is_alive()  # closing the store ends it


def test_a_truncating_checkpoint_empties_the_wal(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (v BLOB)")
            connection.exec_driver_sql("INSERT INTO t VALUES (randomblob(4000))")
        assert (tmp_path / "x.db-wal").stat().st_size > 0
        assert truncate_wal(engine)
        assert (tmp_path / "x.db-wal").stat().st_size == 0
    finally:
        engine.dispose()

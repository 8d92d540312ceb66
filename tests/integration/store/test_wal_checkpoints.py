"""Background WAL checkpoints (SQLite): commits leave checkpoints to a thread, which keeps the
log short; without that thread (automatic checkpoints only at the fallback bound) the log grows."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from clientvault.app import create_app
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store
from clientvault.store.engine import make_engine
from clientvault.store.wal_checkpoints import (
    WalCheckpointer,
    truncate_wal,
    with_fallback_checkpoints_only,
)

MEGABYTE = 1 << 20


def _fill(engine: Engine, wal: Path, *, transactions: int = 16) -> int:
    """Commit ``transactions`` of 1 MB each, pausing between them; the WAL's largest size."""
    largest = 0
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS filler (x BLOB)"))
    for _ in range(transactions):
        with engine.begin() as connection:
            for _ in range(16):
                connection.execute(text("INSERT INTO filler VALUES (randomblob(65536))"))
        largest = max(largest, os.path.getsize(wal))
        time.sleep(0.15)
    return largest


@pytest.fixture
def sqlite_settings(db_settings: Settings) -> Settings:
    if not db_settings.database_url.startswith("sqlite"):
        pytest.skip("WAL checkpoints are SQLite's")
    return db_settings


def test_the_checkpointer_keeps_the_wal_short(sqlite_settings: Settings) -> None:
    store: Store = open_store(sqlite_settings)
    try:
        largest = _fill(store.engine, sqlite_settings.data_dir / "clientvault.db-wal")
    finally:
        store.close()
    assert largest < 6 * MEGABYTE
    assert "wal-checkpoints" not in {thread.name for thread in threading.enumerate()}


def test_a_server_leaves_checkpoints_to_its_writer_process(sqlite_settings: Settings) -> None:
    # The ingest writer's checkpointer copies every committed frame, the server's own too.
    app = create_app(sqlite_settings, run_consumers=False)  # as `serve` runs
    with TestClient(app, base_url="https://testserver"):
        assert app.state.ingest_writer.process_id is not None
        assert app.state.store.checkpointer is None
        assert "wal-checkpoints" not in {thread.name for thread in threading.enumerate()}
        largest = _fill(app.state.store.engine, sqlite_settings.data_dir / "clientvault.db-wal")
    assert largest < 6 * MEGABYTE


def test_without_it_commits_no_longer_checkpoint(sqlite_settings: Settings) -> None:
    engine = make_engine(sqlite_settings.database_url)
    with_fallback_checkpoints_only(engine)
    try:
        largest = _fill(engine, sqlite_settings.data_dir / "clientvault.db-wal")
    finally:
        engine.dispose()
    assert largest > 14 * MEGABYTE


def test_the_log_starts_over_under_writers_that_never_pause(tmp_path: Path) -> None:
    """A passive checkpoint alone never lets the WAL restart while transactions follow each
    other; the round's FULL checkpoint past ``reset_pages`` does, so the file stays short."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", synchronous="NORMAL")
    with_fallback_checkpoints_only(engine)
    checkpointer = WalCheckpointer(engine, interval=0.01, reset_pages=100)
    checkpointer.start()
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (v BLOB)"))
        for _ in range(100):  # ~5,000 pages (20 MB), one transaction right after the other
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (randomblob(4000))"), [{}] * 50)
            time.sleep(0.001)
        largest = os.path.getsize(tmp_path / "x.db-wal")
    finally:
        checkpointer.stop()
        engine.dispose()
    assert largest < 10 * MEGABYTE


def test_truncating_empties_the_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (v BLOB)"))
            connection.execute(text("INSERT INTO t VALUES (randomblob(4000))"))
        assert os.path.getsize(tmp_path / "x.db-wal") > 0
        assert truncate_wal(engine)
        assert os.path.getsize(tmp_path / "x.db-wal") == 0
    finally:
        engine.dispose()

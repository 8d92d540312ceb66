"""Engine behaviour that the rest relies on: readers never wait for the SQLite writer."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select, text

from clientvault.identity.models import Customer
from clientvault.migrations.install import initialise
from clientvault.settings import Settings
from clientvault.store.engine import make_engine


def test_read_sessions_do_not_queue_behind_an_open_write_transaction(tmp_path: Path) -> None:
    store = initialise(Settings(env="test", data_dir=tmp_path))
    try:
        with store.sessions.begin() as writer:
            writer.execute(text("UPDATE customers SET city = city"))  # holds the write lock
            started = time.perf_counter()
            with store.read_sessions() as reader:
                assert reader.scalar(select(func.count()).select_from(Customer)) == 0
            assert time.perf_counter() - started < 0.5
    finally:
        store.close()


def test_sqlite_pragmas_are_set(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", synchronous="FULL")
    with engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "secure_delete")
        }
    engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "secure_delete": 1,
    }

"""Engine behaviour that the rest relies on: readers never wait for the SQLite writer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text

from clientvault.identity.models import Customer
from clientvault.migrations.install import initialise
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.engine import BULK_WRITE_PRAGMAS, bulk_writing, make_engine


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


def test_a_bulk_writer_keeps_a_large_page_cache_and_gives_it_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", synchronous="FULL")

    def cache_size(connection: Connection) -> int:
        return int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())

    with engine.connect() as connection:
        default = cache_size(connection)
        with bulk_writing(connection) as writing:
            assert cache_size(writing) == BULK_WRITE_PRAGMAS["cache_size"]
        assert cache_size(connection) == default
    engine.dispose()
    assert BULK_WRITE_PRAGMAS["cache_size"] < default < 0  # KiB, and larger than the default


def test_statements_are_planned_for_their_own_values_on_postgresql(db: Store) -> None:
    # A statement prepared on the server may be given a generic plan, made once for any
    # values and kept: one made while a table was nearly empty scans it whole ever after.
    # Ours are never prepared, however often they run; the server's own foreign-key checks
    # keep their cached plans (the session's plan cache mode is the default).
    if db.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements and plan caching are PostgreSQL's")
    with db.engine.connect() as connection:
        for _ in range(10):
            connection.execute(select(func.count()).select_from(Customer))
        prepared = connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
        assert prepared.scalar_one() == 0
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "auto"

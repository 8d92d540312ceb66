"""Planner statistics: the scheduled refresh of tables much changed since their analysis
(PostgreSQL; where autovacuum is off, as on this project's CI server, nothing else does it)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert, text

from clientvault.identity.models import Customer
from clientvault.ingest.jobs import PLANNER_STATISTICS
from clientvault.settings import Settings
from clientvault.store.base import new_id, table_of
from clientvault.store.context import Store
from clientvault.store.statistics import refresh_stale_statistics

ROWS = 300


def _changed_since_analysis(db: Store, table: str) -> int:
    with db.engine.connect() as connection:
        return int(
            connection.scalar(
                text("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = :t"),
                {"t": table},
            )
            or 0
        )


def test_tables_changed_since_their_analysis_are_analysed_again(
    db: Store, db_settings: Settings
) -> None:
    if db.engine.dialect.name != "postgresql":
        assert refresh_stale_statistics(db.engine) == []
        assert not PLANNER_STATISTICS.enabled(db_settings)
        return
    assert PLANNER_STATISTICS.enabled(db_settings)
    with db.engine.begin() as connection:
        connection.execute(
            insert(table_of(Customer)), [{"id": new_id(), "status": "active"} for _ in range(ROWS)]
        )
    with db.engine.connect() as connection:  # the inserts' counts reach the statistics now
        connection.execute(text("SELECT pg_stat_force_next_flush()"))
    deadline = time.monotonic() + 10
    while _changed_since_analysis(db, "customers") < ROWS:
        if time.monotonic() > deadline:
            pytest.fail("PostgreSQL never counted the inserted rows")
        time.sleep(0.1)

    assert "customers" in refresh_stale_statistics(db.engine)
    with db.engine.connect() as connection:
        estimated = connection.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'customers'")
        )
    assert estimated == ROWS

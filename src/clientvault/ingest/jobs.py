"""The ingest domain's scheduled job: planner statistics of the tables ingestion grows."""

from __future__ import annotations

from datetime import timedelta

from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob
from clientvault.store.statistics import refresh_stale_statistics


def _refresh_statistics(store: Store, settings: Settings) -> None:
    refresh_stale_statistics(store.engine)
    refresh_stale_statistics(store.keystore.engine)


PLANNER_STATISTICS = ScheduledJob(
    name="ingest.planner-statistics",
    description=(
        "Refresh PostgreSQL's planner statistics of tables much changed since their last "
        "analysis (what autovacuum does, where it is off or behind; nothing on SQLite)."
    ),
    schedule=lambda settings: "hourly",
    run=_refresh_statistics,
    lease=timedelta(minutes=30),
    enabled=lambda settings: settings.database_url.startswith("postgresql"),
)

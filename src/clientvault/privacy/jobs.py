"""The privacy domain's scheduled jobs: the retention purge."""

from __future__ import annotations

from datetime import timedelta

from clientvault.privacy.retention import run_retention
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob


def _purge(store: Store, settings: Settings) -> None:
    run_retention(store, settings.retention)


RETENTION = ScheduledJob(
    name="privacy.retention",
    description="Erase customers and rows kept past their retention period.",
    schedule=lambda settings: f"every {settings.retention.interval_minutes} minutes",
    run=_purge,
    lease=timedelta(hours=1),
    enabled=lambda settings: settings.retention.enabled,
)

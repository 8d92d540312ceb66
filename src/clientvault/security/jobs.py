"""The security domain's scheduled jobs: access alerts and the audit chain's checkpoints."""

from __future__ import annotations

from datetime import timedelta

from clientvault.security import audit_checkpoints
from clientvault.security.alerts import detection
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob


def _raise_alerts(store: Store, settings: Settings) -> None:
    detection.drain(store, policy=settings.security)


def _take_checkpoint(store: Store, settings: Settings) -> None:
    audit_checkpoints.take(store, settings.audit)


ACCESS_ALERTS = ScheduledJob(
    name="security.access-alerts",
    description="Read the new audit entries and raise access alerts.",
    schedule=lambda settings: "every 5 seconds",
    run=_raise_alerts,
    lease=timedelta(minutes=10),
)

AUDIT_CHECKPOINTS = ScheduledJob(
    name="security.audit-checkpoint",
    description="Ship a signed checkpoint of the audit chain's head off the database.",
    schedule=lambda settings: f"every {settings.audit.checkpoint_minutes} minutes",
    run=_take_checkpoint,
    lease=timedelta(minutes=5),
    enabled=lambda settings: audit_checkpoints.configured(settings.audit),
)

"""The messaging domain's scheduled job: delivery of the outbox over SMTP."""

from __future__ import annotations

from clientvault.messaging import delivery
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob


def _deliver_mail(store: Store, settings: Settings) -> None:
    delivery.drain(store, settings.smtp)


OUTBOX_DELIVERY = ScheduledJob(
    # The name it had under automation: the lease row and the run history are kept by name.
    name="automation.outbox-delivery",
    description="Send the e-mail queued in the outbox (when SMTP is enabled).",
    schedule=lambda settings: "every 5 seconds",
    run=_deliver_mail,
    # Above the outbox's own per-message lease (delivery.LEASE), so a slow relay is not run twice.
    lease=delivery.LEASE * 2,
    enabled=lambda settings: settings.smtp.enabled,
)

"""The webhook job refuses a loopback receiver by default (the call fails at once, nothing is
received, no retry) and delivers to it once its network is allowed."""

from __future__ import annotations

import ipaddress

import pytest
from sqlalchemy import select

from clientvault.automation.journeys.jobs import deliver_webhooks, webhook_key
from clientvault.automation.journeys.models import JourneyWebhook
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import ALWAYS, sign_up
from support.webhooks import webhook_receiver

#: Both loopbacks: "localhost" may resolve to either, and every address must pass.
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


def _queue(db: Store, url: str, key: str) -> None:
    customer = sign_up(db, int(key[-1]))
    with db.sessions.begin() as session:
        session.add(
            JourneyWebhook(idempotency_key=key, customer_id=customer, url=url, payload={"k": key})
        )


def test_a_loopback_webhook_is_refused_unless_its_network_is_allowed(
    db: Store, db_settings: Settings
) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the destination check does not depend on the database")
    with webhook_receiver(webhook_key(db, db_settings)) as receiver:
        _queue(db, receiver.url, "call-1")
        assert deliver_webhooks(db, db_settings.model_copy(update={"automation": ALWAYS})) == 1
        with db.sessions() as session:
            refused = session.scalars(select(JourneyWebhook)).one()
        assert refused.failed_at is not None  # refused for good, not retried
        assert refused.last_error is not None
        assert refused.last_error.startswith("refused: 127.0.0.1")
        assert receiver.keys == []

        loopback = ALWAYS.model_copy(update={"webhook_allowed_networks": LOOPBACK})
        _queue(db, receiver.url.replace("127.0.0.1", "localhost"), "call-2")
        assert deliver_webhooks(db, db_settings.model_copy(update={"automation": loopback})) == 1
        assert receiver.keys == ["call-2"]
        assert receiver.bad_signatures == 0

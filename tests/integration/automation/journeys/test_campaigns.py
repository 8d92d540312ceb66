"""Campaigns: a scheduled A/B send to the customers passing its filters and the audience,
each handled once however often the job runs; delivered to a loopback SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from clientvault.automation.journeys.campaigns import schedule_campaign, send_due_campaigns
from clientvault.automation.journeys.models import Campaign, CampaignRecipient
from clientvault.errors import InvalidInput
from clientvault.identity.models import Customer
from clientvault.messaging import delivery
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import MARKETER, sign_up, template, with_mail
from support.mailbox import smtp_server


def test_a_scheduled_ab_campaign_reaches_its_audience_once(
    db: Store, db_settings: Settings
) -> None:
    template(db, "spring-a", subject="Spring A", text="A for {{ customer.first_name }}", html="")
    template(db, "spring-b", subject="Spring B", text="B for {{ customer.first_name }}", html="")
    people = [sign_up(db, n) for n in range(8)]
    sign_up(db, 8, consent=False)  # no consent: not in the audience
    with db.sessions.begin() as session:
        session.execute(update(Customer).values(country="FR"))
        session.execute(update(Customer).where(Customer.id == people[0]).values(country="BE"))
    spec = {
        "name": "Spring sale",
        "filters": [{"field": "country", "value": "FR"}],
        "variants": [
            {"name": "A", "template": "spring-a", "percent": 50},
            {"name": "B", "template": "spring-b", "percent": 50},
        ],
        "send_at": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }
    wrong = {**spec, "variants": [{"name": "A", "template": "spring-a", "percent": 60}]}
    with pytest.raises(InvalidInput, match="percents"), db.sessions.begin() as session:
        schedule_campaign(session, wrong, by=MARKETER)
    with db.sessions.begin() as session:
        schedule_campaign(session, spec, by=MARKETER)
    with smtp_server() as mailbox:
        settings = with_mail(db_settings, mailbox.host, mailbox.port)
        assert send_due_campaigns(db, settings) == 0  # not yet
        with db.sessions.begin() as session:  # its time comes
            session.execute(
                update(Campaign).values(send_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert send_due_campaigns(db, settings) == 8
        assert send_due_campaigns(db, settings) == 0  # each customer once
        delivery.drain(db, settings.smtp)
    subjects = sorted(str(m["Subject"]) for m in mailbox.messages)
    with db.sessions() as session:
        rows = session.execute(
            select(
                CampaignRecipient.customer_id, CampaignRecipient.variant, CampaignRecipient.outcome
            )
        ).all()
    outcomes = {customer: outcome for customer, _, outcome in rows}
    assert outcomes[people[0]] == "filtered out"
    assert sorted(outcomes.values()).count("email queued") == 7
    # The split is a hash of campaign and customer (fair over many, see the unit test of
    # `bucket`): with seven people either side may be empty, so each mail is checked against
    # the variant its recipient was recorded with.
    recorded = sorted(f"Spring {v}" for _, v, outcome in rows if outcome == "email queued")
    assert subjects == recorded

"""Campaigns: a scheduled A/B send to the customers passing its filters and the audience,
each handled once however often the job runs; delivered to a loopback SMTP server."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select, update

from clientvault.automation.journeys.campaigns import (
    HELD,
    schedule_campaign,
    send_due_campaigns,
)
from clientvault.automation.journeys.mail import record_tracking
from clientvault.automation.journeys.models import Campaign, CampaignRecipient
from clientvault.errors import InvalidInput
from clientvault.identity.models import Customer
from clientvault.messaging import delivery
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import (
    MARKETER,
    decide,
    sign_up,
    template,
    track,
    winner_campaign,
    with_mail,
)
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


def _clicks(db: Store, settings: Settings, message: EmailMessage) -> None:
    """Follow the tracked link in a received campaign e-mail (as the click redirect does)."""
    html = message.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)
    found = re.search(r"/v1/email/c/([A-Za-z0-9_.-]+)", html.get_content())
    assert found is not None
    with db.sessions.begin() as session:
        record_tracking(session, db, settings, found.group(1), click=True)


def test_the_winner_of_a_test_goes_to_the_rest_once(db: Store, db_settings: Settings) -> None:
    link = "<a href=\"{{ link('https://shop.example.com/sale') }}\">Sale</a>"
    template(db, "sale-a", subject="Sale A", text="A", html=f"<p>A</p>{link}")
    template(db, "sale-b", subject="Sale B", text="B", html=f"<p>B</p>{link}")
    people = [sign_up(db, n) for n in range(10)]
    for person in people:
        decide(db, person, "granted", purpose="analytics")  # tracking allowed
    spec = winner_campaign("Sale", ("sale-a", "sale-b"), "clicks", 2)
    with pytest.raises(InvalidInput, match="winner_goal"), db.sessions.begin() as session:
        schedule_campaign(session, {**spec, "winner_metric": "goal"}, by=MARKETER)
    with db.sessions.begin() as session:
        campaign_id = schedule_campaign(session, spec, by=MARKETER).id
    start = datetime.now(UTC)
    with smtp_server() as mailbox:
        settings = with_mail(db_settings, mailbox.host, mailbox.port)
        assert send_due_campaigns(db, settings, now=start) == 10
        delivery.drain(db, settings.smtp)
        with db.sessions() as session:
            rows = {
                r.customer_id: r
                for r in session.scalars(
                    select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
                )
            }
            assert session.get(Campaign, campaign_id).status == "testing"  # type: ignore[union-attr]
        # The quota: 6 of the 10 in the test (every hundred in a row hold exactly 50), split
        # 4 A / 2 B by the same stride; the others are held for the winner.
        tested = {c: r.variant for c, r in rows.items() if r.outcome == "email queued"}
        held = [c for c, r in rows.items() if r.outcome == HELD]
        assert sorted(tested.values()) == ["A"] * 4 + ["B"] * 2
        assert len(held) == 4
        by_address = {person: f"person.{n}@example.com" for n, person in enumerate(people)}
        # Both B testers click, one A tester does: B converts 2/2, A 1/4.
        clickers = [c for c, v in tested.items() if v == "B"] + [
            next(c for c, v in tested.items() if v == "A")
        ]
        for customer in clickers:
            (message,) = mailbox.to(by_address[customer])
            _clicks(db, settings, message)
        decide(db, held[0], "withdrawn")  # leaves the audience before the winner is sent
        assert send_due_campaigns(db, settings, now=start + timedelta(hours=1)) == 0  # too soon
        assert send_due_campaigns(db, settings, now=start + timedelta(hours=3)) == 4
        assert send_due_campaigns(db, settings, now=start + timedelta(hours=4)) == 0  # once
        delivery.drain(db, settings.smtp)
    with db.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        final = {
            r.customer_id: (r.variant, r.outcome)
            for r in session.scalars(
                select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
            )
        }
    assert campaign.status == "sent"
    assert campaign.winner_variant == "B"
    assert campaign.winner_decision is not None
    assert campaign.winner_decision["variants"] == {
        "A": {"sent": 4, "converted": 1, "rate": 0.25},
        "B": {"sent": 2, "converted": 2, "rate": 1.0},
    }
    assert final[held[0]] == ("B", "not in audience")
    assert all(final[c] == ("B", "email queued") for c in held[1:])
    # Each customer received one e-mail at most: their test variant, or the winner.
    received = Counter(rcpt[0] for rcpt in mailbox.recipients)
    assert set(received.values()) == {1}
    assert len(received) == 9
    for customer in held[1:]:
        (message,) = mailbox.to(by_address[customer])
        assert str(message["Subject"]) == "Sale B"


def test_a_goal_event_after_the_e_mail_picks_the_winner(db: Store, db_settings: Settings) -> None:
    template(db, "g-a", subject="A", text="A", html="")
    template(db, "g-b", subject="B", text="B", html="")
    user_of = {sign_up(db, n): f"user-{n}" for n in range(4)}
    spec = winner_campaign("Goal", ("g-a", "g-b"), "goal", 1, winner_goal="Order Completed")
    with db.sessions.begin() as session:
        campaign_id = schedule_campaign(session, spec, by=MARKETER).id
    settings = with_mail(db_settings, "127.0.0.1", 9)  # nothing is delivered here
    start = datetime.now(UTC)
    assert send_due_campaigns(db, settings, now=start) == 4
    with db.sessions() as session:
        rows = session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
        ).all()
    tested = {r.customer_id: r.variant for r in rows if r.outcome == "email queued"}
    assert sorted(tested.values()) == ["A", "A", "B"]  # the quota: 3 testers of 4
    (b_tester,) = [c for c, v in tested.items() if v == "B"]
    a_tester = next(c for c, v in tested.items() if v == "A")
    track(db, user_of[b_tester], "Order Completed")
    # An A tester's order from before the e-mail does not count for A.
    track(db, user_of[a_tester], "Order Completed", at=start - timedelta(days=1))
    send_due_campaigns(db, settings, now=start + timedelta(hours=2))
    with db.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.winner_variant == "B"
        assert campaign.winner_decision is not None
        assert campaign.winner_decision["goal"] == "Order Completed"
        assert campaign.winner_decision["variants"]["A"]["converted"] == 0
        assert campaign.winner_decision["variants"]["B"] == {"sent": 1, "converted": 1, "rate": 1.0}

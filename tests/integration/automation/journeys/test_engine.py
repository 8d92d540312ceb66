"""Journeys end to end on the real parts: events ingested as the tracking API does, the
journeys' consumer, due runs advanced, the outbox delivered to an aiosmtpd server on loopback.

The real worker runs the welcome journey; the other tests drive the same functions the
worker's loop calls, with a clock moved forward instead of waiting out the delays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from clientvault.automation.journeys import catalogue, jobs
from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, advance_due
from clientvault.automation.journeys.models import (
    DoNotContact,
    EmailTemplate,
    JourneyRun,
    JourneyStepLog,
)
from clientvault.domains import build_worker
from clientvault.errors import InvalidInput
from clientvault.ingest import consumers
from clientvault.ingest.models import Event
from clientvault.messaging import delivery
from clientvault.messaging.models import OutboxMessage
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.journeys import MARKETER, decide, journey, sign_up, template, track, with_mail
from support.mailbox import Mailbox, smtp_server, text_of

WELCOME = {
    "trigger": {
        "kind": "event",
        "event": "Signed Up",
        "filters": [{"field": "plan", "value": "free"}],
    },
    "steps": [{"id": "welcome", "type": "send_email", "template": "welcome"}],
}
CART = {
    "trigger": {
        "kind": "event_not_followed",
        "event": "Product Added",
        "unless": "Order Completed",
        "within_minutes": 120,
    },
    "steps": [{"id": "remind", "type": "send_email", "template": "cart"}],
    "goal": {"event": "Order Completed", "within_days": 3},
}


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(db_settings: Settings, mailbox: Mailbox) -> Settings:
    return with_mail(db_settings, mailbox.host, mailbox.port)


def _pump(store: Store, settings: Settings, *, later: timedelta = timedelta(0)) -> None:
    """What the worker's loop does, once, with the clock ``later`` ahead."""
    consumers.drain(store, JOURNEY_CONSUMER)
    advance_due(store, settings, now=utcnow() + later)
    delivery.drain(store, settings.smtp)
    jobs.report_mail_outcomes(store, settings)


def _runs(store: Store) -> list[JourneyRun]:
    with store.sessions() as session:
        return list(session.scalars(select(JourneyRun).order_by(JourneyRun.id)))


def test_the_real_worker_sends_the_welcome_email_with_the_first_name_and_unsubscribe(
    db: Store, settings: Settings, mailbox: Mailbox
) -> None:
    template(db, "welcome")
    journey(db, "Welcome", WELCOME)
    sign_up(db, 1, first_name="Grace")
    sign_up(db, 2, first_name="Linus")
    worker = build_worker(db, settings, poll_seconds=0.05)
    worker.start()
    try:
        track(db, "user-1", "Signed Up", {"plan": "free"})
        track(db, "user-2", "Signed Up", {"plan": "pro"})  # filtered out
        mailbox.wait_for_mail()
    finally:
        worker.stop()
    assert [rcpt for rcpt in mailbox.recipients] == [["person.1@example.com"]]
    (message,) = mailbox.messages
    assert "Hello Grace, welcome!" in text_of(message)
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert "Hello Grace" in html.get_content()  # type: ignore[attr-defined]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/preferences/unsubscribe?token=" in message["List-Unsubscribe"]
    assert "/preferences?token=" in text_of(message)


def test_cart_abandoned_gets_the_email_after_the_delay_and_an_order_first_gets_none(
    db: Store, settings: Settings, mailbox: Mailbox
) -> None:
    template(db, "cart", text="{{ customer.first_name }}, your cart is waiting")
    journey(db, "Cart", CART)
    sign_up(db, 1, first_name="Ada")
    sign_up(db, 2, first_name="Bob")
    track(db, "user-1", "Product Added", {"sku": "A"})
    track(db, "user-2", "Product Added", {"sku": "B"})
    track(db, "user-2", "Order Completed", {"total": 10})
    _pump(db, settings, later=timedelta(minutes=119))
    assert mailbox.messages == []  # not before the delay
    _pump(db, settings, later=timedelta(minutes=121))
    assert [rcpt for rcpt in mailbox.recipients] == [["person.1@example.com"]]
    assert "Ada, your cart is waiting" in text_of(mailbox.messages[0])
    statuses = {run.status: run.outcome for run in _runs(db)}
    assert statuses == {"completed": "end", "exited": "event: Order Completed"}
    with db.sessions() as session:
        sent = session.scalars(select(Event).where(Event.name == "Email Sent")).all()
    assert len(sent) == 1
    assert sent[0].properties["template"] == "cart"


def test_consent_withdrawn_during_a_wait_means_no_email(
    db: Store, settings: Settings, mailbox: Mailbox
) -> None:
    template(db, "later")
    journey(
        db,
        "Slow",
        {
            "trigger": {"kind": "event", "event": "Signed Up"},
            "steps": [
                {"id": "pause", "type": "wait", "minutes": 60},
                {"id": "hello", "type": "send_email", "template": "later"},
            ],
        },
    )
    ada = sign_up(db, 1)
    sign_up(db, 2)
    track(db, "user-1", "Signed Up")
    track(db, "user-2", "Signed Up")
    _pump(db, settings)
    decide(db, ada, "withdrawn")
    _pump(db, settings, later=timedelta(minutes=61))
    assert mailbox.recipients == [["person.2@example.com"]]
    outcomes = {run.customer_id: (run.status, run.outcome) for run in _runs(db)}
    assert outcomes[ada] == ("exited", "not in audience")


def test_the_frequency_cap_holds_across_two_journeys(
    db: Store, db_settings: Settings, mailbox: Mailbox
) -> None:
    settings = with_mail(db_settings, mailbox.host, mailbox.port, emails_per_week=1)
    template(db, "one")
    template(db, "two")
    for name, tpl in (("First", "one"), ("Second", "two")):
        journey(
            db,
            name,
            {
                "trigger": {"kind": "event", "event": "Signed Up"},
                "steps": [{"id": "send", "type": "send_email", "template": tpl}],
            },
        )
    sign_up(db, 1)
    track(db, "user-1", "Signed Up")
    _pump(db, settings)
    assert len(mailbox.messages) == 1
    with db.sessions() as session:
        outcomes = sorted(session.scalars(select(JourneyStepLog.outcome)))
    assert outcomes == ["email queued", "frequency cap"]


def test_a_template_cannot_be_injected_through_a_name_nor_reach_python_internals(
    db: Store, settings: Settings, mailbox: Mailbox
) -> None:
    template(db, "welcome")
    journey(db, "Welcome", {**WELCOME, "trigger": {"kind": "event", "event": "Signed Up"}})
    sign_up(db, 1, first_name="{{ 7*7 }}")
    sign_up(db, 2, first_name="{% for x in y %}")
    track(db, "user-1", "Signed Up")
    track(db, "user-2", "Signed Up")
    _pump(db, settings)
    texts = {
        rcpt[0]: text_of(m) for m, rcpt in zip(mailbox.messages, mailbox.recipients, strict=True)
    }
    assert "Hello {{ 7*7 }}, welcome!" in texts["person.1@example.com"]
    assert "Hello {% for x in y %}, welcome!" in texts["person.2@example.com"]
    hostile = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(InvalidInput, match="text"), db.sessions.begin() as session:
        catalogue.save_template(
            session, name="evil", subject="x", html="", text=hostile, by=MARKETER
        )
    # Stored around the check (an old row, a hand edit): the run fails, nothing is sent.
    with db.sessions.begin() as session:
        session.add(EmailTemplate(name="evil", subject="x", html="", text=hostile))
    journey(
        db,
        "Evil",
        {
            "trigger": {"kind": "event", "event": "Clicked"},
            "steps": [{"id": "send", "type": "send_email", "template": "evil"}],
        },
    )
    track(db, "user-1", "Clicked")
    _pump(db, settings)
    assert len(mailbox.messages) == 2
    assert [(r.status, r.outcome) for r in _runs(db) if r.status == "failed"] == [
        ("failed", "template failed")
    ]


def test_pause_holds_people_in_flight_and_a_new_version_leaves_them_on_theirs(
    db: Store, settings: Settings, mailbox: Mailbox
) -> None:
    template(db, "v1", text="version one")
    template(db, "v2", text="version two")
    definition = {
        "trigger": {"kind": "event", "event": "Signed Up"},
        "steps": [
            {"id": "pause", "type": "wait", "minutes": 10},
            {"id": "send", "type": "send_email", "template": "v1"},
        ],
    }
    journey_id = journey(db, "Versions", definition)
    sign_up(db, 1)
    sign_up(db, 2)
    track(db, "user-1", "Signed Up")
    _pump(db, settings)
    with db.sessions.begin() as session:
        catalogue.change_status(session, journey_id, "pause", by=MARKETER)
        v2 = {
            **definition,
            "steps": [definition["steps"][0], {**definition["steps"][1], "template": "v2"}],
        }  # type: ignore[index]
        catalogue.new_version(session, journey_id, definition=v2, by=MARKETER)
    _pump(db, settings, later=timedelta(minutes=11))
    assert mailbox.messages == []  # paused: held, not lost
    with db.sessions.begin() as session:
        catalogue.change_status(session, journey_id, "resume", by=MARKETER)
    track(db, "user-2", "Signed Up")
    _pump(db, settings)
    _pump(db, settings, later=timedelta(minutes=11))
    texts = {
        rcpt[0]: text_of(m) for m, rcpt in zip(mailbox.messages, mailbox.recipients, strict=True)
    }
    assert "version one" in texts["person.1@example.com"]
    assert "version two" in texts["person.2@example.com"]
    assert sorted(r.version for r in _runs(db)) == [1, 2]


def test_reentry_once_and_holdout_get_nothing(
    db: Store, settings: Settings, mailbox: Mailbox
) -> None:
    template(db, "welcome")
    journey(
        db,
        "Held",
        {
            "trigger": {"kind": "event", "event": "Signed Up"},
            "steps": [{"id": "send", "type": "send_email", "template": "welcome"}],
            "holdout_percent": 50,
            "goal": {"event": "Order Completed"},
        },
    )
    people = {n: sign_up(db, n) for n in range(1, 13)}
    for n in people:
        track(db, f"user-{n}", "Signed Up")
        track(db, f"user-{n}", "Signed Up")  # once: the second entry is refused
    _pump(db, settings)
    runs = _runs(db)
    assert len(runs) == 12
    held = {r.customer_id for r in runs if r.status == "holdout"}
    assert 0 < len(held) < 12
    assert len(mailbox.messages) == 12 - len(held)
    track(db, "user-1", "Order Completed")
    _pump(db, settings)
    with db.sessions() as session:
        journey_row = catalogue.find_journey(session, "Held")
        stats = catalogue.journey_stats(session, journey_row)
    assert stats.entrants == 12
    assert stats.holdout == len(held)
    assert stats.converted + stats.holdout_converted == 1


def test_a_bounce_puts_the_customer_on_the_do_not_contact_list(
    db: Store, settings: Settings, mailbox: Mailbox
) -> None:
    template(db, "welcome")
    journey(db, "Welcome", {**WELCOME, "trigger": {"kind": "event", "event": "Signed Up"}})
    bouncing = sign_up(db, 1)
    mailbox.refuse.add("person.1@example.com")
    track(db, "user-1", "Signed Up")
    _pump(db, settings)
    with db.sessions() as session:
        listed = session.get(DoNotContact, bouncing)
        bounced = session.scalars(select(Event.name).where(Event.name == "Email Bounced")).all()
    assert listed is not None
    assert listed.reason == "bounced"
    assert bounced == ["Email Bounced"]


def test_a_journey_definition_error_names_the_step(db: Store) -> None:
    broken = {
        "trigger": {"kind": "event", "event": "Signed Up"},
        "steps": [
            {"id": "first", "type": "wait", "minutes": 5},
            {"id": "check", "type": "condition", "then_go_to": "nowhere", "else_go_to": "exit"},
        ],
    }
    with pytest.raises(InvalidInput, match=r"step 2 \('check'\): goes to 'nowhere'"):
        journey(db, "Broken", broken)
    broken["steps"][0] = {"id": "first", "type": "wait", "minutes": -1}  # type: ignore[index]
    with pytest.raises(InvalidInput, match=r"step 1 \('first'\): minutes"):
        journey(db, "Broken", broken)


def test_the_sending_rate_limit_holds_mail_in_the_outbox_for_the_next_minute(
    db: Store, settings: Settings, mailbox: Mailbox
) -> None:
    template(db, "welcome")
    journey(db, "Everyone", {**WELCOME, "trigger": {"kind": "event", "event": "Signed Up"}})
    for n in range(5):
        sign_up(db, n)
        track(db, f"user-{n}", "Signed Up")
    limited = settings.model_copy(
        update={"smtp": settings.smtp.model_copy(update={"max_per_minute": 3, "batch_size": 2})}
    )
    _pump(db, limited)
    assert len(mailbox.messages) == 3  # two batches, the second cut to the minute's last one
    with db.sessions() as session:
        waiting = session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
        assert len(waiting.all()) == 2
    _pump(db, settings)  # a minute later (no limit here): the rest goes
    assert len(mailbox.messages) == 5

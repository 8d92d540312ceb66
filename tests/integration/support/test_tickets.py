"""Tickets against the real database (both backends): routing on creation, the sealed and
audited conversation, resolution with a CSAT survey through the outbox, helpdesk events that
become tickets idempotently, export and erasure."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from clientvault.automation.worker import run_until_idle
from clientvault.domains import CONSUMERS
from clientvault.errors import Conflict, InvalidInput, Unauthenticated
from clientvault.ingest.models import Event
from clientvault.ingest.tracking import ingest
from clientvault.messaging import delivery
from clientvault.messaging.models import OutboxMessage
from clientvault.privacy.erasure import erase_customer
from clientvault.privacy.export import export_customer
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.support import tickets
from clientvault.support.agents import AgentProfile, set_agent
from clientvault.support.models import Ticket, TicketMessage
from support.mailbox import smtp_server
from support.privacy import smtp_to
from support.privacy_core import DPO, decide, make_customers, person, prepare
from support.staff import add_staff

UTC_ZONE = ZoneInfo("UTC")
ALWAYS = AgentProfile(start_hour=0, end_hour=24, weekdays="1234567")


def _agent(db: Store, settings: Settings, email: str, **profile: object) -> Principal:
    user = add_staff(db, settings, email=email, role="support").user
    with db.sessions.begin() as session:
        set_agent(
            session,
            user_id=user.id,
            profile=AgentProfile(**{**ALWAYS.__dict__, **profile}),  # type: ignore[arg-type]
        )
    return Principal.user(
        user.id, role="support", permissions=frozenset({"customers:read", "pii:reveal"})
    )


def _open(db: Store, customer_id: uuid.UUID, **fields: object) -> Ticket:
    with db.sessions.begin() as session:
        ticket = tickets.open_ticket(
            session,
            db,
            tickets.NewTicket(customer_id=customer_id, **fields),  # type: ignore[arg-type]
            zone=UTC_ZONE,
        )
        session.expunge(ticket)
    return ticket


def test_a_ticket_goes_to_the_fitting_agent_and_its_conversation_is_sealed_and_audited(
    db: Store, db_settings: Settings
) -> None:
    prepare(db)
    [customer] = make_customers(db, person(1))
    billing = _agent(db, db_settings, "billing@example.com", skills=("billing",), languages=("fr",))
    _agent(db, db_settings, "delivery@example.com", skills=("delivery",), languages=("fr",))
    ticket = _open(
        db, customer, subject="Facture", message="Ma facture est fausse", category="billing"
    )
    assert str(ticket.assigned_agent_id) == billing.id
    assert "has the skill 'billing'" in (ticket.assignment_reason or "")
    with db.sessions() as session:
        body = session.scalar(select(TicketMessage.body_sealed))
    assert body is not None
    assert b"facture" not in body

    with db.sessions.begin() as session:
        tickets.reply(session, db, ticket_id=ticket.id, principal=billing, body="Corrigée !")
        subject, lines = tickets.conversation(
            session,
            db,
            ticket=tickets.get_ticket(session, ticket.id),
            principal=billing,
            reason="answering the ticket",
        )
    assert subject == "Facture"
    assert [(line.author, line.body) for line in lines] == [
        ("customer", "Ma facture est fausse"),
        ("agent", "Corrigée !"),
    ]
    with db.sessions() as session:
        reveals = session.scalar(
            select(func.count()).where(
                AuditEntry.action == "pii.reveal", AuditEntry.actor_id == billing.id
            )
        )
        assert reveals
        assert tickets.get_ticket(session, ticket.id).first_response_at is not None


def test_resolving_frees_the_agent_and_sends_one_csat_survey(
    db: Store, db_settings: Settings
) -> None:
    prepare(db)
    a, b = make_customers(db, person(1), person(2))
    agent = _agent(db, db_settings, "solo@example.com", capacity=1)
    first = _open(db, a, message="help", category="delivery")
    queued = _open(db, b, message="help too", category="delivery")
    assert str(first.assigned_agent_id) == agent.id
    assert queued.assigned_agent_id is None
    assert queued.assignment_reason == "queued: every working agent is at capacity"

    policy = db_settings.privacy
    with db.sessions.begin() as session:
        surveyed = tickets.resolve(
            session,
            db,
            ticket_id=first.id,
            principal=agent,
            settings=db_settings,
        )
    assert surveyed
    with smtp_server() as mailbox:
        delivery.drain(db, smtp_to(db_settings, mailbox.host, mailbox.port))
    [survey] = mailbox.to("person.1@example.com")
    assert survey["Subject"] == "How did we do?"
    text = survey.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = urlsplit(re.findall(r"https?://\S+/support/csat\S+", text)[4])  # the "5" link
    answer = parse_qs(link.query)
    with db.sessions.begin() as session:
        with pytest.raises(Unauthenticated):  # another customer's link
            tickets.answer_csat(
                session, db, policy=policy, token=answer["token"][0], ticket_id=queued.id, score=5
            )
        tickets.answer_csat(
            session,
            db,
            policy=policy,
            token=answer["token"][0],
            ticket_id=first.id,
            score=int(answer["score"][0]),
        )
    with db.sessions() as session:
        csat = session.scalars(select(Event).where(Event.name == "CSAT Survey Answered")).one()
        assert (csat.customer_id, csat.properties["score"]) == (a, 5)
    with db.sessions() as session:
        assert str(tickets.get_ticket(session, queued.id).assigned_agent_id) == agent.id
        assert (
            session.scalar(
                select(func.count()).where(OutboxMessage.template == tickets.CSAT_TEMPLATE)
            )
            == 1
        )
    with db.sessions.begin() as session, pytest.raises(Conflict):
        tickets.resolve(
            session,
            db,
            ticket_id=first.id,
            principal=agent,
            settings=db_settings,
        )
    with db.sessions.begin() as session:
        assert tickets.record_csat(session, ticket_id=first.id, score=4).csat_score == 4
        with pytest.raises(InvalidInput):
            tickets.record_csat(session, ticket_id=first.id, score=9)


def test_no_csat_survey_after_an_opt_out_of_measurement(db: Store, db_settings: Settings) -> None:
    prepare(db)
    [customer] = make_customers(db, person(3))
    decide(db, customer, "analytics", "withdrawn")
    agent = _agent(db, db_settings, "agent@example.com")
    ticket = _open(db, customer, message="hello")
    with db.sessions.begin() as session:
        assert not tickets.resolve(
            session,
            db,
            ticket_id=ticket.id,
            principal=agent,
            settings=db_settings,
        )


def _helpdesk_calls() -> list[dict[str, object]]:
    at = datetime(2026, 12, 1, 10, tzinfo=UTC).isoformat()
    props = {"ticket_id": "HD-1", "category": "billing", "priority": "high", "channel": "email"}
    return [
        {
            "type": "identify",
            "userId": "u-1",
            "traits": {"email": "hd@example.com"},
            "messageId": "m0",
        },
        {
            "type": "track",
            "userId": "u-1",
            "event": "Support Ticket Opened",
            "properties": props,
            "timestamp": at,
            "messageId": "m1",
        },
        {
            "type": "track",
            "userId": "u-1",
            "event": "Support Ticket Closed",
            "properties": {"ticket_id": "HD-1", "resolution": "refund issued"},
            "timestamp": at,
            "messageId": "m2",
        },
        {
            "type": "track",
            "userId": "u-1",
            "event": "CSAT Survey Answered",
            "properties": {"ticket_id": "HD-1", "score": 4},
            "timestamp": at,
            "messageId": "m3",
        },
        {
            "type": "track",
            "userId": "u-1",
            "event": "Support Ticket Opened",
            "properties": {"ticket_id": "HD-2", "category": "delivery"},
            "messageId": "m4",
        },
    ]


def test_helpdesk_events_become_tickets_once_and_erasure_removes_them(db: Store) -> None:
    prepare(db)
    with db.sessions.begin() as session:
        ingest(session, db, source="helpdesk", messages=_helpdesk_calls(), default_region="FR")
    run_until_idle(db, CONSUMERS)
    with db.sessions.begin() as session:  # a replay of the same calls changes nothing
        ingest(session, db, source="helpdesk", messages=_helpdesk_calls(), default_region="FR")
    run_until_idle(db, CONSUMERS)
    with db.sessions() as session:
        found = {t.external_id: t for t in session.scalars(select(Ticket))}
        assert set(found) == {"HD-1", "HD-2"}
        closed, still_open = found["HD-1"], found["HD-2"]
        assert (closed.status, closed.priority, closed.csat_score) == ("closed", "high", 4)
        assert closed.details == {"resolution": "refund issued"}
        assert still_open.status == "open"
        customer_id = closed.customer_id

    with db.sessions() as session:
        document = export_customer(session, db, customer_id=customer_id, principal=DPO, reason="t")
    [holder] = [h for h in document["holders"] if h["name"] == "support.tickets"]
    assert {r["external_id"] for r in holder["records"]} == {"HD-1", "HD-2"}
    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=customer_id, principal=DPO, reason="t")
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0

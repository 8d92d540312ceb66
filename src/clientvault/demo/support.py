"""The demo's support showcase: the knowledge base, three agents with skills and languages,
and the demo's helpdesk tickets routed to them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.demo.support_kb import ARTICLES
from clientvault.identity.models import Customer
from clientvault.ingest.consumers import drain
from clientvault.security.models import User
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.support import kb, tickets
from clientvault.support.agents import AgentProfile, set_agent
from clientvault.support.consumer import CONSUMER

#: (e-mail, skills, languages, capacity) of the demo's agents: existing staff accounts only.
AGENT_SKILLS = (
    ("delivery", "returns"),
    ("billing", "product"),
    ("delivery", "billing", "product", "returns"),
)


def kb_articles() -> list[kb.ArticleInput]:
    """The demo knowledge base as article inputs."""
    return [
        kb.ArticleInput(language, title, answer, tuple(phrasings), category=topic)
        for topic, language, title, phrasings, answer in ARTICLES
    ]


def seed_support(store: Store, settings: Settings) -> str:
    """Seed the knowledge base, make the demo's staff agents, turn the demo's helpdesk events
    into tickets (the support consumer, run now rather than when the server starts) and route
    the open ones."""
    drain(store, CONSUMER)
    with store.sessions.begin() as session:
        added = kb.seed_articles(session, kb_articles())
        staff = list(
            session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.email))
        )
        for user, skills in zip(staff, AGENT_SKILLS, strict=False):
            set_agent(
                session,
                user_id=user.id,
                profile=AgentProfile(
                    skills=skills,
                    languages=("en", "fr"),
                    capacity=20,
                    start_hour=0,
                    end_hour=24,
                    weekdays="1234567",
                ),
            )
        assigned = tickets.assign_queued(session, zone=settings.zone, now=utcnow())
        opened = _open_demo_tickets(session, store, settings)
    return (
        f"Support: {added} knowledge-base articles, {min(len(staff), len(AGENT_SKILLS))} "
        f"agent(s), {assigned} open ticket(s) from the helpdesk events assigned, {opened} new "
        "ticket(s) with a conversation."
    )


#: Conversations the demo opens (synthetic): category, priority, subject, message.
DEMO_TICKETS = (
    (
        "delivery",
        "high",
        "Parcel not arrived",
        "My order was due on Monday and the tracking "
        "page has not moved since. Can you check where it is?",
    ),
    (
        "returns",
        "normal",
        "Return label",
        "I would like to send back a jacket that is too small, but I cannot find the return label.",
    ),
    (
        "billing",
        "normal",
        "Charged twice",
        "I see two payments for the same order on my card statement.",
    ),
)


def _open_demo_tickets(session: Session, store: Store, settings: Settings) -> int:
    """Open the demo conversations for the newest active customers (routed like any other)."""
    people = session.scalars(
        select(Customer.id)
        .where(Customer.status == "active", Customer.merged_into_id.is_(None))
        .order_by(Customer.created_at.desc(), Customer.id)
        .limit(len(DEMO_TICKETS))
    ).all()
    for customer_id, (category, priority, subject, message) in zip(
        people, DEMO_TICKETS, strict=False
    ):
        tickets.open_ticket(
            session,
            store,
            tickets.NewTicket(
                customer_id=customer_id,
                subject=subject,
                message=message,
                category=category,
                priority=priority,
                language="en",
                channel="web_form",
            ),
            zone=settings.zone,
        )
    return len(people)

"""The demo's support showcase: the knowledge base, three agents with skills and languages,
and the demo's helpdesk tickets routed to them."""

from __future__ import annotations

from sqlalchemy import select

from clientvault.demo.support_kb import ARTICLES
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
    return (
        f"Support: {added} knowledge-base articles, {min(len(staff), len(AGENT_SKILLS))} "
        f"agent(s), {assigned} open ticket(s) assigned."
    )

"""The demo's support showcase: knowledge base, agents, tickets from the demo's helpdesk
events, routed."""

from __future__ import annotations

from sqlalchemy import func, select

from clientvault.demo.generator import generate_demo
from clientvault.demo.support import seed_support
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.support.models import KnowledgeArticle, SupportAgent, Ticket
from support.staff import add_staff


def test_the_demo_shows_support_working(db: Store, db_settings: Settings) -> None:
    add_staff(db, db_settings, email="admin@example.com", role="admin")
    generate_demo(db, customers=60, seed=5, default_region="FR")
    line = seed_support(db, db_settings)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(KnowledgeArticle)) >= 30
        assert session.scalar(select(func.count()).select_from(SupportAgent)) == 1
        total = session.scalar(select(func.count()).select_from(Ticket))
        open_assigned = session.scalar(
            select(func.count()).where(
                Ticket.status == "open", Ticket.assigned_agent_id.is_not(None)
            )
        )
    assert total
    assert "3 new ticket(s) with a conversation" in line
    assert open_assigned >= 3  # the demo's conversations reached the one agent

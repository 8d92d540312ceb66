"""Category suggestions against the real database (both backends): no model and no suggestion
until two categories have five closed tickets each; then a new ticket gets a suggestion
beside the agent's category, never over it, and routing uses a confident one; the training
reads the tickets' text through the audited path under its own principal; the daily job
drops the model when the data shrinks."""

from __future__ import annotations

from sqlalchemy import func, select, update

from clientvault.security.models import AuditEntry
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.support import categories
from clientvault.support.agents import AgentProfile, set_agent
from clientvault.support.jobs import CATEGORIES
from clientvault.support.models import CategoryModel, Ticket
from support.privacy_core import make_customers, person, prepare
from support.staff import add_staff
from support.ticket_texts import closed_tickets, open_ticket
from support.ticket_texts import tickets as synthetic


def test_suggestions_need_enough_closed_tickets_and_never_replace_the_agents_category(
    db: Store, db_settings: Settings
) -> None:
    prepare(db)
    customers = make_customers(db, person(1), person(2))
    two = ("billing", "delivery")
    closed_tickets(db, customers, [t for t in synthetic(16, seed=5) if t[1] in two])  # 4 each
    with db.sessions.begin() as session:
        refused = categories.train(session, db)
    assert not refused.trained
    assert "not enough data" in refused.reason
    assert refused.categories == {"billing": 4, "delivery": 4}
    fresh = open_ticket(db, customers[0], "my parcel has not arrived", None)
    assert fresh.suggested_category is None
    assert fresh.suggestion_confidence is None

    # A fifth of each, and one of another category.
    closed_tickets(db, customers, [t for t in synthetic(4, seed=6) if t[1] in (*two, "account")])
    with db.sessions.begin() as session:
        done = categories.train(session, db)
        assert session.scalar(select(func.count()).select_from(CategoryModel)) == 1
    assert done.trained
    assert done.categories == {"billing": 5, "delivery": 5}
    assert done.tickets == 10  # the lone "account" ticket is left out

    courier = add_staff(db, db_settings, email="courier.desk@example.com", role="support").user
    with db.sessions.begin() as session:
        set_agent(
            session,
            user_id=courier.id,
            profile=AgentProfile(
                skills=("delivery",), start_hour=0, end_hour=24, weekdays="1234567"
            ),
        )
    late = "Bonjour, mon colis n'est toujours pas arrivé, le suivi indique livré. Merci."
    suggested = open_ticket(db, customers[1], late, None)
    assert suggested.suggested_category == "delivery"
    assert suggested.category is None
    assert (suggested.suggestion_confidence or 0) >= categories.ROUTING_CONFIDENCE
    assert suggested.assigned_agent_id == courier.id  # routed on the confident suggestion
    assert "(category suggested by the classifier)" in (suggested.assignment_reason or "")
    kept = open_ticket(db, customers[1], "I was charged twice, wrong invoice amount", "delivery")
    assert (kept.category, kept.suggested_category) == ("delivery", "billing")
    with db.sessions() as session:
        audited = session.scalar(
            select(func.count()).where(
                AuditEntry.action == "pii.reveal", AuditEntry.actor_id == "support.categories"
            )
        )
    assert audited == 2 * len(customers)  # one entry per customer and training

    with db.sessions.begin() as session:
        session.execute(update(Ticket).values(category=None))
    CATEGORIES.run(db, db_settings)  # the daily job: the data shrank, so the model goes
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CategoryModel)) == 0

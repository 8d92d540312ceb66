"""Category suggestions against the real database (both backends): no model and no suggestion
until two categories have five closed tickets each; then a new ticket gets a suggestion
beside the agent's category, never over it; the training reads the tickets' text through the
audited path under its own principal."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from clientvault.security.models import AuditEntry
from clientvault.store.context import Store
from clientvault.support import categories, tickets
from clientvault.support.models import CategoryModel, Ticket
from support.privacy_core import make_customers, person, prepare
from support.ticket_texts import tickets as synthetic

UTC_ZONE = ZoneInfo("UTC")


def _open(db: Store, customer: uuid.UUID, text: str, category: str | None) -> Ticket:
    with db.sessions.begin() as session:
        ticket = tickets.open_ticket(
            session,
            db,
            tickets.NewTicket(customer_id=customer, message=text, category=category),
            zone=UTC_ZONE,
        )
        session.expunge(ticket)
    return ticket


def _close_all(db: Store) -> None:
    with db.sessions.begin() as session:
        session.execute(update(Ticket).values(status="closed"))


def test_suggestions_need_enough_closed_tickets_and_never_replace_the_agents_category(
    db: Store,
) -> None:
    prepare(db)
    customers = make_customers(db, person(1), person(2))
    texts = [(c, t) for _, c, t in synthetic(16, seed=5) if c in ("billing", "delivery")]
    for n, (category, text) in enumerate(texts):  # four of each
        _open(db, customers[n % 2], text, category)
    _close_all(db)
    with db.sessions.begin() as session:
        refused = categories.train(session, db)
    assert not refused.trained
    assert "not enough data" in refused.reason
    assert refused.categories == {"billing": 4, "delivery": 4}
    fresh = _open(db, customers[0], "my parcel has not arrived", None)
    assert fresh.suggested_category is None
    assert fresh.suggestion_confidence is None

    for n, (_, category, text) in enumerate(synthetic(4, seed=6)):
        if category in ("billing", "delivery"):  # a fifth of each, and one of two others
            _open(db, customers[n % 2], text, category)
    _open(db, customers[0], "I cannot log in to my account", "account")
    _close_all(db)
    with db.sessions.begin() as session:
        done = categories.train(session, db)
        assert session.scalar(select(func.count()).select_from(CategoryModel)) == 1
    assert done.trained
    assert done.categories == {"billing": 5, "delivery": 5}
    assert done.tickets == 10  # the lone "account" ticket is left out

    suggested = _open(db, customers[1], "the courier never delivered my parcel", None)
    assert suggested.suggested_category == "delivery"
    assert suggested.category is None
    assert 0.5 < (suggested.suggestion_confidence or 0) <= 1
    kept = _open(db, customers[1], "I was charged twice, wrong invoice amount", "delivery")
    assert (kept.category, kept.suggested_category) == ("delivery", "billing")
    with db.sessions() as session:
        audited = session.scalar(
            select(func.count()).where(
                AuditEntry.action == "pii.reveal", AuditEntry.actor_id == "support.categories"
            )
        )
    assert audited == 2 * len(customers)  # one entry per customer and training

    with db.sessions.begin() as session:  # the data shrinks: the model goes
        session.execute(update(Ticket).values(category=None))
        assert not categories.train(session, db).trained
        assert session.scalar(select(func.count()).select_from(CategoryModel)) == 0

"""Support tables: agents, tickets, their messages, and the chatbot's knowledge base.

A ticket belongs to a customer: its subject and messages are personal data, sealed with that
customer's data key (so an erasure, which destroys the key, makes them unreadable in every
copy, backups included) and read only through the audited reveal path. Categories, priorities,
times and assignments stay in clear: routing, SLAs and analytics need them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, JsonDocument, Sealed, new_id, utcnow

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "pending", "resolved", "closed")
OPEN_STATUSES = ("open", "pending")
AUTHORS = ("customer", "agent", "bot")


class SupportAgent(Base):
    """A member of staff who answers tickets: skills, languages, capacity, working hours."""

    __tablename__ = "support_agents"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    skills: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    languages: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    capacity: Mapped[int] = mapped_column(SmallInteger, default=5)
    #: Working hours in the installation's time zone: [start, end) hours on ISO weekdays.
    start_hour: Mapped[int] = mapped_column(SmallInteger, default=9)
    end_hour: Mapped[int] = mapped_column(SmallInteger, default=18)
    weekdays: Mapped[str] = mapped_column(String(7), default="12345")
    active: Mapped[bool] = mapped_column(default=True)
    last_active_at: Mapped[datetime | None] = mapped_column()


#: The assigned open tickets: the predicate of the partial index routing counts loads over,
#: written out (not bound parameters) so that a query using it matches the index's own
#: predicate — SQLite uses a partial index only for a WHERE it can prove implies it.
ASSIGNED_OPEN = text(
    f"status IN ({', '.join(repr(s) for s in OPEN_STATUSES)}) AND assigned_agent_id IS NOT NULL"
)


class Ticket(Base):
    """One customer request to support, wherever it came from."""

    __tablename__ = "support_tickets"
    __table_args__ = (
        Index("ix_support_tickets_status_agent", "status", "assigned_agent_id"),
        Index("ix_support_tickets_customer", "customer_id", "created_at"),
        # Routing reads each agent's latest assignment: a covering index, not a table scan.
        Index("ix_support_tickets_agent_assigned", "assigned_agent_id", "assigned_at"),
        # And each agent's load: a count over the agent's assigned open tickets only (at most
        # their capacity), never over the queue or the closed ones.
        Index(
            "ix_support_tickets_open_by_agent",
            "assigned_agent_id",
            postgresql_where=ASSIGNED_OPEN,
            sqlite_where=ASSIGNED_OPEN,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: The helpdesk's own ticket id, for tickets made from ``Support Ticket Opened`` events.
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    category: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(32), default="api")
    subject_sealed: Mapped[bytes | None] = mapped_column(Sealed)
    assigned_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    #: Why the ticket went to its agent (or stays queued), in words an agent understands.
    assignment_reason: Mapped[str | None] = mapped_column(String(300))
    assigned_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    csat_score: Mapped[int | None] = mapped_column(SmallInteger)
    #: The category the text classifier suggests (``support.categories``); never written to
    #: ``category``, which stays the agent's (or the helpdesk's) choice.
    suggested_category: Mapped[str | None] = mapped_column(String(64))
    suggestion_confidence: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)


class TicketMessage(Base):
    """One message of a ticket's conversation; the body is sealed with the customer's key."""

    __tablename__ = "support_messages"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body_sealed: Mapped[bytes] = mapped_column(Sealed)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CategoryModel(Base):
    """The fitted ticket-category classifier (``support.categories``): only the latest is
    kept. Its weights are plain arrays (``numpy.savez``, read back without pickle) over hashed
    word features, so it stores no vocabulary of the tickets it learnt from."""

    __tablename__ = "support_category_models"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    tickets: Mapped[int] = mapped_column()
    categories: Mapped[list[str]] = mapped_column(JsonDocument)
    #: Accuracy on a stratified fifth of the tickets held out before the final fit.
    accuracy: Mapped[float | None] = mapped_column(Float)
    weights: Mapped[bytes] = mapped_column(LargeBinary)


class KnowledgeArticle(Base):
    """A knowledge-base entry the chatbot answers from: a question, its phrasings, the answer."""

    __tablename__ = "support_articles"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    #: Other ways customers ask the same thing (one per line), matched like the title.
    phrasings: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    published: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatQuestion(Base):
    """One question asked to the chatbot, for its analytics: answered or handed over, and
    which article answered. The text is kept only for questions it could not answer (to
    show what the knowledge base lacks), scrubbed of identifiers (e-mails, phones, cards…
    become keyed hashes, as in events), and purged after ``support.chat_log_days``."""

    __tablename__ = "support_chat_questions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    handed_over: Mapped[bool] = mapped_column()
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("support_articles.id", ondelete="SET NULL")
    )
    confidence: Mapped[float] = mapped_column(Float)
    unanswered_text: Mapped[str | None] = mapped_column(String(500))

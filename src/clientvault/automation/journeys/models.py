"""The journeys' tables: journeys and their versions, e-mail templates, per-customer runs,
the steps each run has done (its idempotency keys), queued webhook calls, the e-mails sent by
journeys and the do-not-contact list; and the index of orders by time the last-order date
trigger reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.ingest.commerce.models import Order
from clientvault.store.base import Base, BigIntId, JsonDocument, new_id, utcnow

#: A journey's states: only ``active`` ones take entrants and advance their runs.
JOURNEY_STATUSES = ("draft", "active", "paused", "archived")
#: A run's states; ``active`` runs are advanced when due, the others are finished.
RUN_STATUSES = ("active", "holdout", "completed", "converted", "exited", "failed")


class Journey(Base):
    """A marketing workflow; its definitions are ``JourneyVersion`` rows."""

    __tablename__ = "journeys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    #: The version new entrants get; runs keep the version they entered on.
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    #: What the trigger listens to, in the clear, so the consumer filters in SQL.
    trigger_kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JourneyVersion(Base):
    """One version of a journey's definition (``definition.JourneyDefinition`` as JSON)."""

    __tablename__ = "journey_versions"

    journey_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class EmailTemplate(Base):
    """A marketing e-mail: subject, HTML and text, jinja2 templates run in the sandbox."""

    __tablename__ = "email_templates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    html: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JourneyRun(Base):
    """One customer's way through one version of a journey."""

    __tablename__ = "journey_runs"
    __table_args__ = (
        Index("ix_journey_runs_due", "status", "due_at"),
        Index("ix_journey_runs_customer", "customer_id", "journey_id"),
        UniqueConstraint("journey_id", "entry_key", "customer_id", name="uq_journey_runs_entry"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    journey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    #: What started it (an event's message id, a date, a consent record): a trigger starts
    #: at most one run, however often it is replayed.
    entry_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    #: The step to do next, or ``exit``.
    step_id: Mapped[str] = mapped_column(String(40))
    #: When the next step is due (None: finished).
    due_at: Mapped[datetime | None]
    #: Waiting for this event (a wait-until step, an abandonment's cancelling event)...
    waiting_for: Mapped[str | None] = mapped_column(String(200))
    #: ...and where the run goes when it comes (a step id, or ``exit``).
    event_go_to: Mapped[str | None] = mapped_column(String(40))
    #: Steps done, for the run's idempotency keys (run id and sequence number).
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    converted_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(64))


class JourneyStepLog(Base):
    """A step a run has done: ``(run_id, seq)`` is the step's idempotency key, written in the
    transaction of the step's effects, so a step is done once or not at all."""

    __tablename__ = "journey_steps"

    run_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("journey_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    journey_id: Mapped[uuid.UUID] = mapped_column(index=True)
    step_id: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class JourneyWebhook(Base):
    """A webhook call queued by a step, delivered by a job (signed, retried)."""

    __tablename__ = "journey_webhooks"
    __table_args__ = (Index("ix_journey_webhooks_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    url: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))


class JourneyEmail(Base):
    """An e-mail a journey or campaign queued in the outbox: for the frequency cap, the
    tracking links and the ``Email Sent`` / ``Email Bounced`` events once delivery is known."""

    __tablename__ = "journey_emails"
    __table_args__ = (Index("ix_journey_emails_customer", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    #: Set once the message is queued (the body's tracking links name this row's id first).
    outbox_id: Mapped[int | None] = mapped_column(BigIntId, unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    journey_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    run_id: Mapped[int | None] = mapped_column(BigIntId)
    step_id: Mapped[str] = mapped_column(String(40))
    template: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the delivery outcome was put on the event log (None: not yet known or recorded).
    reported_at: Mapped[datetime | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))


class DoNotContact(Base):
    """A customer who gets no marketing e-mail: ``bounced``, ``unsubscribed`` or ``manual``
    (set and lifted by the DPO)."""

    __tablename__ = "do_not_contact"

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    """A one-off send of a template (or A/B variants) to the customers passing its filters
    and its purpose's audience, at ``send_at``."""

    __tablename__ = "campaigns"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    purpose: Mapped[str] = mapped_column(String(64))
    #: Customer attribute filters (``definition.PropertyFilter`` as JSON): all must pass.
    filters: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    #: A/B variants: ``[{"name", "template", "percent"}]`` (one variant: no split).
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    send_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    #: "Send the winner to the rest": the share of the audience the variants are tested on
    #: (None: every recipient gets a variant at once)...
    test_percent: Mapped[int | None] = mapped_column(Integer)
    #: ...what makes a variant win (``opens``, ``clicks`` or ``goal``, the event ``winner_goal``)...
    winner_metric: Mapped[str | None] = mapped_column(String(16))
    winner_goal: Mapped[str | None] = mapped_column(String(200))
    #: ...how long after the test sends the winner is chosen, and when that is.
    winner_after_hours: Mapped[float | None] = mapped_column(Float)
    winner_at: Mapped[datetime | None]
    #: The chosen variant and the figures it was chosen on (per variant: sent, converted, rate).
    winner_variant: Mapped[str | None] = mapped_column(String(20))
    winner_decision: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)


class CampaignRecipient(Base):
    """A customer a campaign has handled (its idempotency key): the variant and outcome."""

    __tablename__ = "campaign_recipients"

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    variant: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The e-mail queued (``JourneyEmail.id``): what the winner's opens and clicks name.
    email_id: Mapped[int | None] = mapped_column(BigIntId)


class NewsletterSignup(Base):
    """A newsletter sign-up awaiting (or given) its confirmation (double opt-in): consent is
    recorded only when the e-mailed link is followed; the row's id is the link's id."""

    __tablename__ = "newsletter_signups"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    #: What asked for it (the sign-up event's message id): a replay asks nothing twice.
    entry_key: Mapped[str] = mapped_column(String(200), unique=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    #: The consent recorded on confirmation (``consent_ledger.id``).
    consent_record_id: Mapped[int | None] = mapped_column(BigIntId)


#: The index the last-order date trigger needs (the orders of one day), declared here with the
#: trigger that needs it rather than in ``ingest.commerce.models``.
ORDERS_BY_TIME = Index("ix_orders_placed_at", Order.placed_at)

"""Tables of data-subject requests, signed links, records of processing and the breach
register (the e-mail outbox they write to is ``messaging.models``).

Nothing here holds personal data in the clear: a request names its customer by id and a link
is stored as a keyed hash of its token.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, JsonDocument, new_id, utcnow

REQUEST_KINDS = (
    "access",
    "portability",
    "rectification",
    "erasure",
    "restriction",
    "objection",
    "opt_out",
)
REQUEST_STATUSES = ("received", "verified", "in_progress", "completed", "refused")
REGIMES = ("gdpr", "ccpa")
LINK_PURPOSES = ("dsr_verify", "preferences")
#: A breach's risk to people: "unlikely" needs no notification (the reason is recorded).
BREACH_RISKS = ("unlikely", "risk", "high")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DataSubjectRequest(Base):
    """One request of a data subject, its legal clock and where it stands.

    ``customer_id`` is a plain id (no foreign key): the request is the controller's proof of
    compliance and outlives the erasure it may have asked for.
    """

    __tablename__ = "dsr_requests"
    __table_args__ = (
        CheckConstraint(_in("kind", REQUEST_KINDS), name="kind"),
        CheckConstraint(_in("status", REQUEST_STATUSES), name="status"),
        CheckConstraint(_in("regime", REGIMES), name="regime"),
        Index("ix_dsr_requests_status_due", "status", "due_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    regime: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="received")
    channel: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    original_due_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    extended_at: Mapped[datetime | None]
    extension_reason: Mapped[str | None] = mapped_column(String(500))
    verified_at: Mapped[datetime | None]
    verification_method: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LinkToken(Base):
    """A signed link sent to a customer: only the keyed hash of its token is kept.

    ``dsr_verify`` links are single-use (``used_at``); ``preferences`` links open the
    preference centre of one customer until they expire.
    """

    __tablename__ = "privacy_link_tokens"
    __table_args__ = (CheckConstraint(_in("purpose", LINK_PURPOSES), name="purpose"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    request_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ProcessingRecord(Base):
    """One processing activity of the records of processing (GDPR Art. 30)."""

    __tablename__ = "processing_records"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(1000))
    legal_basis: Mapped[str] = mapped_column(String(200))
    data_categories: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    subject_categories: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    recipients: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    transfers: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    retention: Mapped[str] = mapped_column(String(500))
    security_measures: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Breach(Base):
    """A personal-data breach (GDPR Art. 33): the authority is told within 72 hours of
    ``detected_at``, unless the breach is unlikely to result in a risk (recorded why)."""

    __tablename__ = "breach_register"
    __table_args__ = (CheckConstraint(_in("risk", BREACH_RISKS), name="risk"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime]
    occurred_at: Mapped[datetime | None]
    data_categories: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    approx_subjects: Mapped[int | None] = mapped_column(Integer)
    risk: Mapped[str] = mapped_column(String(16))
    measures: Mapped[str | None] = mapped_column(Text)
    authority_notified_at: Mapped[datetime | None]
    authority_reference: Mapped[str | None] = mapped_column(String(100))
    subjects_notified_at: Mapped[datetime | None]
    no_notification_reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

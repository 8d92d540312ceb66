"""The messaging tables: the outbox of e-mails to customers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, Sealed, utcnow


class OutboxMessage(Base):
    """An e-mail to a customer, written in the transaction of the step that sends it.

    The recipient is the customer's e-mail on file, read (audited) at delivery; ``body``
    is sealed with the customer's data key under the column name ``mail_body``.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_pending", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    template: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes | None] = mapped_column(Sealed)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))

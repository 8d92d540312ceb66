"""The consent ledger: append-only; a customer's current consent is derived from it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, utcnow


class ConsentRecord(Base):
    """One decision of a customer about one purpose: granted or withdrawn, with its proof."""

    __tablename__ = "consent_ledger"
    __table_args__ = (
        Index("ix_consent_ledger_customer_purpose", "customer_id", "purpose", "recorded_at"),
        CheckConstraint("decision IN ('granted', 'withdrawn')", name="decision"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # "granted" | "withdrawn"
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    policy_version: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))  # web, e-mail, import, preference centre…
    source: Mapped[str | None] = mapped_column(String(64))
    proof_ref: Mapped[str | None] = mapped_column(String(200))

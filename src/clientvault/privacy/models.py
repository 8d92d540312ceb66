"""The privacy core's tables: purposes, the consent ledger, the objection/restriction ledger,
and the erasure register (erasures, erased customer ids, identifier tombstones)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, BlindIndex, JsonDocument, new_id, utcnow

#: Legal bases of Art. 6(1) GDPR a purpose can rest on.
LEGAL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interest",
    "public_task",
    "legitimate_interest",
)


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


class Purpose(Base):
    """A processing purpose: what data is used for, on which legal basis."""

    __tablename__ = "purposes"
    __table_args__ = (
        CheckConstraint(
            "legal_basis IN ({})".format(", ".join(f"'{basis}'" for basis in LEGAL_BASES)),
            name="legal_basis",
        ),
    )

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(32))
    direct_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessingLimit(Base):
    """One change of a customer's objection to direct marketing or restriction of processing
    (Art. 21(2) and Art. 18 GDPR): append-only, the newest row per kind is the state."""

    __tablename__ = "processing_limits"
    __table_args__ = (
        Index("ix_processing_limits_customer_kind", "customer_id", "kind", "recorded_at"),
        CheckConstraint("kind IN ('objection', 'restriction')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "objection" | "restriction"
    active: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(64))
    proof_ref: Mapped[str | None] = mapped_column(String(200))


class Erasure(Base):
    """One completed erasure and its signed certificate (no personal data in either)."""

    __tablename__ = "erasures"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    certificate: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class ErasedCustomer(Base):
    """A customer id that was erased: filtered out of every audience, erased again after a
    restore brings it back."""

    __tablename__ = "erased_customers"

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    erasure_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("erasures.id", ondelete="CASCADE"), index=True
    )


class ErasureTombstone(Base):
    """A keyed hash of one blind index of an erased person (never the index itself), so that
    late-arriving data for them is recognised, suppressed and counted."""

    __tablename__ = "erasure_tombstones"

    digest: Mapped[bytes] = mapped_column(BlindIndex, primary_key=True)
    erasure_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("erasures.id", ondelete="CASCADE"), index=True
    )
    suppressed: Mapped[int] = mapped_column(BigIntId, default=0)
    last_suppressed_at: Mapped[datetime | None]

"""Tables of probabilistic matching: trained models and the keyed blocking keys.

Kept apart from ``identity.models`` (profiles, identity graph, merges) because they belong to
the matching job alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, BlindIndex, JsonDocument, utcnow


class MatchModel(Base):
    """A trained matching model: Splink's settings with the estimated m and u probabilities,
    the prior, and the thresholds it was used with. The newest version scores incremental
    matches until the batch job trains the next one."""

    __tablename__ = "match_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    auto_merge_probability: Mapped[float] = mapped_column(Float)
    review_probability: Mapped[float] = mapped_column(Float)
    customers: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchBlockingKey(Base):
    """One blocking key of a customer (e.g. last name + birth year), stored only as its keyed
    hash (HMAC under the installation's index key, with the kind in the hashed text, so equal
    hashes mean equal kind and value): new profiles find their candidates by equality on
    these without decrypting anybody.

    The key index carries the customer id: a candidate look-up reads the index alone, never
    the table's rows (against 1M profiles, a row read per profile of every block shared)."""

    __tablename__ = "match_blocking_keys"
    __table_args__ = (Index("ix_match_blocking_keys_key_customer_id", "key", "customer_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[bytes] = mapped_column(BlindIndex)

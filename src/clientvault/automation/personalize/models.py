"""Personalisation's tables: content slots (a place on the website with variants chosen per
visitor) and offers (what the next-best-offer ranking picks from)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, JsonDocument, new_id, utcnow


class ContentSlot(Base):
    """A place on the website (``homepage-hero``) whose content is chosen per visitor.

    ``variants`` is an ordered list of ``{"name", "when", "content"}`` documents
    (``slots.VariantSpec``): the first whose condition the visitor meets is shown; anyone else,
    anonymous visitors included, gets ``default``. Content is text fields only (headline,
    body, link, image), which the snippet writes with ``textContent``: never markup."""

    __tablename__ = "content_slots"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    default: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Offer(Base):
    """Something the shop can put in front of a customer: a product, a category, a piece of
    content or a discount, with its margin and the purpose it is processed for."""

    __tablename__ = "offers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    #: The product's SKU (kind ``product``) or the category (kind ``category``).
    target: Mapped[str | None] = mapped_column(String(200))
    #: Share of the price the shop keeps, 0 to 1: how much an accepted offer is worth.
    margin: Mapped[float] = mapped_column(Float)
    purpose: Mapped[str] = mapped_column(String(64), default="personalisation")
    #: Only customers with this score label (``{"kind": "rfm_segment", "label": "at_risk"}``).
    eligible: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    link: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

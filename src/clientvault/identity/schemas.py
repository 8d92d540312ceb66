"""What may come in to create a customer profile, and what a profile read lets out."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CustomerCreate(BaseModel):
    """A new customer's data as a source gives it (identifiers in clear, sealed on write)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    street_address: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=16)
    city: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=60)
    birth_date: date | None = None
    gender: str | None = Field(default=None, max_length=16)
    language: str | None = Field(default=None, max_length=8)
    traits: dict[str, Any] = Field(default_factory=dict)


class CustomerRead(BaseModel):
    """A profile as any staff member with read access sees it: coarse attributes, no PII."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    created_at: datetime
    country: str | None
    city: str | None
    postal_prefix: str | None
    birth_year: int | None
    birthday: str | None
    gender: str | None
    language: str | None
    traits: dict[str, Any]
    has_email: bool
    has_phone: bool


class CustomerIdentifiers(BaseModel):
    """A customer's decrypted identifiers: only ever built by the audited reveal path."""

    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    street_address: str | None = None
    postal_code: str | None = None
    birth_date: str | None = None

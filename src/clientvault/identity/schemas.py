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
    username: str | None = Field(default=None, max_length=100)
    gender: str | None = Field(default=None, max_length=16)
    language: str | None = Field(default=None, max_length=8)
    traits: dict[str, Any] = Field(default_factory=dict)


class CustomerRead(BaseModel):
    """A profile as any staff member with read access sees it: coarse attributes, no PII.

    The age as a band (``identity.age_bands``), never the birth year and birthday, which
    together are the birth date; that leaves only through the audited reveal."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    created_at: datetime
    country: str | None
    city: str | None
    postal_prefix: str | None
    age_band: str | None
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
    username: str | None = None


class MergeRead(BaseModel):
    """One merge in a customer's history (ids and who/why; no personal data)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    survivor_id: uuid.UUID
    absorbed_id: uuid.UUID
    candidate_id: int | None
    reason: str
    merged_at: datetime
    merged_by: str
    undone_at: datetime | None
    undone_by: str | None
    undo_reason: str | None


class ComparisonWeight(BaseModel):
    """How much one comparison of a match candidate counted (Splink match weight)."""

    comparison: str
    level: str
    weight: float


class CandidateRead(BaseModel):
    """A pair of profiles in the review queue, with the explanation of its score."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    left_id: uuid.UUID
    right_id: uuid.UUID
    match_probability: float
    match_weight: float
    explanation: list[ComparisonWeight]
    status: str
    model_version: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class GoldenValue(BaseModel):
    """One attribute of a golden record and where it came from (masked unless revealed)."""

    value: Any = None
    masked: bool = False
    profile_id: uuid.UUID | None = None
    source: str | None = None
    observed_at: datetime | None = None
    rule: str | None = None
    alternatives: int = 0


class GoldenRecordRead(BaseModel):
    """A person's unified profile: one value per attribute with its provenance."""

    customer_id: uuid.UUID
    profile_ids: list[uuid.UUID]
    revealed: bool
    values: dict[str, GoldenValue]
    traits: dict[str, GoldenValue]

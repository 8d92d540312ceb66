"""What the customer read models return: identifiers here are masked or counted; the golden
record (``identity.schemas.GoldenRecordRead``) decides what is revealed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from clientvault.identity.golden import MASK
from clientvault.identity.schemas import GoldenRecordRead, MergeRead
from clientvault.ingest.groups import GroupRead


class ProfileSummary(BaseModel):
    """One original profile of the person (no personal data)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    source: str | None
    created_at: datetime
    updated_at: datetime
    merged_into_id: uuid.UUID | None


class KeptIdentifier(BaseModel):
    """An identifier a profile brought that another profile held at its kind's limit: kept
    on the profile (masked: only its keyed hash is stored), not linked. ``held_by`` (the
    profile holding it) is shown to identity reviewers only, like the merge history."""

    kind: str
    value: str = MASK
    customer_id: uuid.UUID
    held_by: uuid.UUID | None
    source: str | None
    seen_at: datetime


class ConsentLine(BaseModel):
    """One consent decision, kept with the profile that gave it."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    purpose: str
    decision: str
    recorded_at: datetime
    policy_version: str
    channel: str


class TimelineEvent(BaseModel):
    """One event of the timeline (its name and type; properties stay in the event log)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: uuid.UUID | None
    type: str
    name: str | None
    occurred_at: datetime
    source: str | None


class OrderLine(BaseModel):
    """One order of the person."""

    model_config = ConfigDict(from_attributes=True)

    external_id: str
    customer_id: uuid.UUID | None
    status: str
    placed_at: datetime
    currency: str
    total: Decimal


class Customer360(BaseModel):
    """Everything the 360° view shows about one person."""

    golden: GoldenRecordRead
    profiles: list[ProfileSummary]
    identities: dict[str, int]
    kept_identifiers: list[KeptIdentifier]
    consents: list[ConsentLine]
    events: list[TimelineEvent]
    orders: list[OrderLine]
    groups: list[GroupRead]
    merges: list[MergeRead] | None  # only for viewers who review identities

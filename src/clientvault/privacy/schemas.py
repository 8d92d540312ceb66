"""What the privacy core's API takes in and lets out (consents, limits, audiences, erasure)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PurposeRead(BaseModel):
    """A processing purpose and its legal basis."""

    code: str
    title: str
    description: str
    legal_basis: str
    direct_marketing: bool


class PurposeCreate(BaseModel):
    """A new processing purpose (``privacy.purposes.create_purpose`` checks it further)."""

    model_config = _STRICT

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    title: str = Field(min_length=1, max_length=120)
    description: str = Field(min_length=1, max_length=500)
    legal_basis: str = Field(min_length=1, max_length=32)
    direct_marketing: bool = False


class ConsentDecisionIn(BaseModel):
    """A consent decision to record for a customer, with its proof."""

    model_config = _STRICT

    purpose: str = Field(min_length=1, max_length=64)
    decision: Literal["granted", "withdrawn"]
    policy_version: str = Field(min_length=1, max_length=32)
    channel: str = Field(min_length=1, max_length=32)
    source: str | None = Field(default=None, max_length=64)
    proof_ref: str | None = Field(default=None, max_length=200)


class ProcessingLimitIn(BaseModel):
    """An objection to direct marketing or a restriction of processing, set or lifted."""

    model_config = _STRICT

    kind: Literal["objection", "restriction"]
    active: bool = True
    channel: str = Field(min_length=1, max_length=32)
    source: str | None = Field(default=None, max_length=64)
    proof_ref: str | None = Field(default=None, max_length=200)


class ConsentStateRead(BaseModel):
    """A customer's current decision about one purpose."""

    purpose: str
    decision: str
    recorded_at: datetime
    policy_version: str
    channel: str
    source: str | None
    proof_ref: str | None


class LimitStateRead(BaseModel):
    """Whether an objection or restriction is in force."""

    kind: str
    active: bool
    recorded_at: datetime | None


class CustomerPrivacyRead(BaseModel):
    """A customer's current consents and processing limits."""

    customer_id: uuid.UUID
    consents: dict[str, ConsentStateRead]
    limits: dict[str, LimitStateRead]


class AudiencePreviewRead(BaseModel):
    """How many customers an audience holds for a purpose, and a few of their ids."""

    purpose: str
    size: int
    sample: list[uuid.UUID]


class ExportIn(BaseModel):
    """Why a customer's data is exported (kept in the audit log) and in which form."""

    model_config = _STRICT

    reason: str = Field(min_length=3, max_length=200)
    format: Literal["json", "zip"] = "json"


class ErasureIn(BaseModel):
    """Why a customer is erased (kept in the audit log: no personal data)."""

    model_config = _STRICT

    reason: str = Field(min_length=3, max_length=200)


class HolderErasureRead(BaseModel):
    """What one holder did."""

    action: str
    rows: int


class ErasureRead(BaseModel):
    """An erasure's outcome and its signed certificate."""

    erasure_id: uuid.UUID
    customer_ids: list[uuid.UUID]
    holders: dict[str, HolderErasureRead]
    keys_destroyed: int
    tombstones: int
    certificate: dict[str, Any]
    signature: str


class CertificateRead(BaseModel):
    """A stored erasure certificate, its signature and the key that verifies it."""

    certificate: dict[str, Any]
    signature: str
    public_key_pem: str

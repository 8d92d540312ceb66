"""Pydantic schemas of data-subject requests, records of processing and breaches.

Inputs forbid unknown fields; the read schemas carry ids, dates and states, never a
customer's identifiers.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from clientvault.privacy.breaches import EARLIEST, Clock
from clientvault.privacy.deadlines import days_left
from clientvault.privacy.requests.lifecycle import deadline_state
from clientvault.privacy.requests.models import Breach, DataSubjectRequest

RequestKind = Literal[
    "access", "portability", "rectification", "erasure", "restriction", "objection", "opt_out"
]
Regime = Literal["gdpr", "ccpa"]
Risk = Literal["unlikely", "risk", "high"]
ShortText = Field(min_length=3, max_length=500)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RequestCreate(_Input):
    """A request taken in by staff: the customer by id, or by the e-mail they wrote from."""

    customer_id: uuid.UUID | None = None
    email: str | None = Field(default=None, min_length=3, max_length=254)
    kind: RequestKind
    regime: Regime = "gdpr"
    note: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _one_subject(self) -> RequestCreate:
        if (self.customer_id is None) == (self.email is None):
            raise ValueError("give exactly one of customer_id and email")
        return self


class ReasonInput(_Input):
    """A reason (extension, refusal): said to the requester, so no one else's data in it."""

    reason: str = ShortText


class CompleteInput(_Input):
    """Closing a request; a rectification says which fields were changed (not the values)."""

    note: str | None = Field(default=None, max_length=500)


class RequestRead(BaseModel):
    """A request as staff see it, with its clock."""

    id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    regime: str
    status: str
    channel: str
    received_at: datetime
    original_due_on: date
    due_on: date
    deadline: str
    days_left: int
    extended_at: datetime | None
    extension_reason: str | None
    verified_at: datetime | None
    verification_method: str | None
    closed_at: datetime | None
    outcome: str | None

    @classmethod
    def of(cls, request: DataSubjectRequest, *, today: date, due_soon_days: int) -> RequestRead:
        """Build from the row, with its clock as of ``today``."""
        return cls(
            id=request.id,
            customer_id=request.customer_id,
            kind=request.kind,
            regime=request.regime,
            status=request.status,
            channel=request.channel,
            received_at=request.received_at,
            original_due_on=request.original_due_on,
            due_on=request.due_on,
            deadline=deadline_state(request, today=today, due_soon_days=due_soon_days),
            days_left=days_left(request.due_on, today),
            extended_at=request.extended_at,
            extension_reason=request.extension_reason,
            verified_at=request.verified_at,
            verification_method=request.verification_method,
            closed_at=request.closed_at,
            outcome=request.outcome,
        )


class RecordInput(_Input):
    """One record of processing (Art. 30(1))."""

    name: str = Field(min_length=3, max_length=200)
    purpose: str = Field(min_length=3, max_length=1000)
    legal_basis: str = Field(min_length=3, max_length=200)
    data_categories: list[str] = Field(min_length=1, max_length=50)
    subject_categories: list[str] = Field(min_length=1, max_length=50)
    recipients: list[str] = Field(default_factory=list, max_length=50)
    transfers: list[str] = Field(default_factory=list, max_length=50)
    retention: str = Field(min_length=3, max_length=500)
    security_measures: list[str] = Field(min_length=1, max_length=50)


class BreachCreate(_Input):
    """A breach as the DPO records it."""

    title: str = Field(min_length=3, max_length=200)
    description: str = Field(min_length=3, max_length=5000)
    detected_at: AwareDatetime
    occurred_at: AwareDatetime | None = None
    risk: Risk
    data_categories: list[str] = Field(default_factory=list, max_length=50)
    approx_subjects: int | None = Field(default=None, ge=0, le=2_000_000_000)
    measures: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _unlikely_says_why(self) -> BreachCreate:
        if self.risk == "unlikely" and not self.measures:
            raise ValueError("a breach not notified needs its reason in measures")
        for moment in (self.detected_at, self.occurred_at):
            if moment is not None and moment < EARLIEST:
                raise ValueError("breach times start in 2000")
        return self


class NotifyInput(_Input):
    """The supervisory authority was notified."""

    reference: str = Field(min_length=1, max_length=100)
    at: AwareDatetime | None = Field(default=None, ge=EARLIEST)


class BreachRead(BaseModel):
    """A breach with its 72-hour clock."""

    id: uuid.UUID
    title: str
    detected_at: datetime
    risk: str
    deadline: datetime
    clock: str
    hours_left: float
    authority_notified_at: datetime | None
    authority_reference: str | None

    @classmethod
    def of(cls, breach: Breach, clock: Clock) -> BreachRead:
        """Build from the row and its clock."""
        return cls(
            id=breach.id,
            title=breach.title,
            detected_at=breach.detected_at,
            risk=breach.risk,
            deadline=clock.deadline,
            clock=clock.state,
            hours_left=round(clock.hours, 2),
            authority_notified_at=breach.authority_notified_at,
            authority_reference=breach.authority_reference,
        )

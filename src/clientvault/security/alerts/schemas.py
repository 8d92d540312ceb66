"""What the alerts API lets out: an alert with its evidence (ids, counts, times; no PII)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class AlertRead(BaseModel):
    """One access alert as admins and the DPO see it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    severity: Literal["low", "medium", "high"]
    status: Literal["open", "acknowledged"]
    actor_kind: str
    actor_id: str
    window_start: datetime
    window_end: datetime
    summary: str
    evidence: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None

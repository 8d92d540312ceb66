"""The scheduler's table: one lease row per scheduled job (``automation.scheduler``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base

#: Longest error text kept (exception type and message: ours, without personal data).
ERROR_LENGTH = 500


class ScheduledJobState(Base):
    """When a job runs next, who holds it now, and how its last run went."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(64))
    next_run_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))
    run_count: Mapped[int] = mapped_column(default=0)

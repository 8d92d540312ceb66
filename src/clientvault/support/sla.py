"""Service-level targets counted in business hours, and the alerts before and at a breach.

A ticket's first-response and resolution targets (per priority, in business hours of the
installation's calendar) start at its creation. ``business_hours_between`` counts only the
calendar's hours, so a ticket opened on Friday at 17:00 with a 4-hour target is due on Monday
at 12:00. Hand-written: the few PyPI business-hours packages are unmaintained, and the rule is
an hour-by-hour walk over at most a few weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from clientvault.settings import SupportSettings

_STEP_LIMIT = 24 * 366  # hours walked at most: a target beyond a year is refused


@dataclass(frozen=True)
class Calendar:
    """Working hours ``[start, end)`` on ISO weekdays, in one time zone."""

    zone: ZoneInfo
    start_hour: int
    end_hour: int
    weekdays: str

    @classmethod
    def of(cls, settings: SupportSettings, zone: ZoneInfo) -> Calendar:
        """The installation's support calendar."""
        return cls(
            zone,
            settings.business_start_hour,
            settings.business_end_hour,
            settings.business_weekdays,
        )

    def open_at(self, hour_start: datetime) -> bool:
        """Whether the business hour starting at ``hour_start`` is a working one."""
        local = hour_start.astimezone(self.zone)
        return (
            str(local.isoweekday()) in self.weekdays
            and self.start_hour <= local.hour < self.end_hour
        )


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def business_hours_between(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Business hours elapsed from ``start`` to ``end`` (0 if ``end`` is not after it)."""
    total = 0.0
    cursor = start
    for _ in range(_STEP_LIMIT):
        if cursor >= end:
            return total
        hour = _floor_hour(cursor)
        next_hour = min(hour + timedelta(hours=1), end)
        if calendar.open_at(hour):
            total += (next_hour - cursor).total_seconds() / 3600
        cursor = next_hour
    return total


def due_at(calendar: Calendar, start: datetime, hours: float) -> datetime:
    """The moment ``hours`` business hours after ``start``."""
    left = timedelta(hours=hours)
    cursor = start
    for _ in range(_STEP_LIMIT):
        hour = _floor_hour(cursor)
        next_hour = hour + timedelta(hours=1)
        if calendar.open_at(hour):
            span = next_hour - cursor
            if span >= left:
                return cursor + left
            left -= span
        cursor = next_hour
    raise ValueError(f"a target of {hours} business hours is more than a year away")


@dataclass(frozen=True)
class SlaState:
    """Where one target of one ticket stands."""

    target: str  # "first_response" or "resolution"
    due: datetime
    met: bool | None  # None while still running
    state: str  # "met", "on_track", "warning", "breached"


def target_state(
    calendar: Calendar,
    *,
    target: str,
    created_at: datetime,
    hours: float,
    done_at: datetime | None,
    now: datetime,
    warn_share: float,
) -> SlaState:
    """The state of one target: met or breached once done, else on track, warning (less
    than ``warn_share`` of the target left) or breached."""
    due = due_at(calendar, created_at, hours)
    if done_at is not None:
        met = done_at <= due
        return SlaState(target, due, met, "met" if met else "breached")
    if now >= due:
        return SlaState(target, due, None, "breached")
    left = business_hours_between(calendar, now, due)
    return SlaState(target, due, None, "warning" if left <= hours * warn_share else "on_track")

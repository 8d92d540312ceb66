"""Legal deadlines of data-subject requests and breaches, as plain calendar arithmetic.

GDPR Art. 12(3): one month from receipt, extendable once by two further months. A period in
months ends on the same day of the month it started on, or on the last day of the final
month when that day does not exist there (Regulation 1182/71, Art. 3): a request received on
31 January is due on 28 February (29 in a leap year). The extension runs from the end of the
first period, so it is never later than three months from receipt (31 Jan -> 28 Feb -> 28
Apr), the reading that keeps the controller on the safe side.

CCPA (Cal. Civ. Code 1798.130): 45 calendar days from receipt, extendable once by a further
45 days. GDPR Art. 33: the authority is told of a breach within 72 hours of its detection.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

GDPR_MONTHS = 1
GDPR_EXTENSION_MONTHS = 2
CCPA_DAYS = 45
CCPA_EXTENSION_DAYS = 45
BREACH_NOTIFICATION = timedelta(hours=72)


def add_months(day: date, months: int) -> date:
    """``day`` moved ``months`` calendar months on, clamped to the end of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _period_end(regime: str, start: date, *, gdpr_months: int, ccpa_days: int) -> date:
    """The end of a period starting on ``start``: counted in calendar months under GDPR,
    in days under CCPA. The first period and the extension differ only in their lengths,
    so both count here; an unknown regime is a ``ValueError``, never a silent default."""
    if regime == "gdpr":
        return add_months(start, gdpr_months)
    if regime == "ccpa":
        return start + timedelta(days=ccpa_days)
    raise ValueError(f"unknown regime {regime!r}")


def due_on(regime: str, received: date) -> date:
    """The day a request received on ``received`` must be answered by, under ``regime``."""
    return _period_end(regime, received, gdpr_months=GDPR_MONTHS, ccpa_days=CCPA_DAYS)


def extended_due_on(regime: str, original_due: date) -> date:
    """The new due day after the one extension the regime allows."""
    return _period_end(
        regime,
        original_due,
        gdpr_months=GDPR_EXTENSION_MONTHS,
        ccpa_days=CCPA_EXTENSION_DAYS,
    )


def days_left(due: date, today: date) -> int:
    """Whole days until ``due`` (0 on the day itself, negative once overdue)."""
    return (due - today).days


def breach_deadline(detected_at: datetime) -> datetime:
    """When the supervisory authority must have been told of a breach detected then."""
    return detected_at + BREACH_NOTIFICATION

"""Deadline arithmetic of data-subject requests and breaches, property-tested."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from clientvault.privacy import deadlines

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31))


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


@given(days, st.integers(min_value=-240, max_value=240))
def test_add_months_lands_in_the_right_month_on_the_same_or_last_day(day: date, n: int) -> None:
    moved = deadlines.add_months(day, n)
    assert _month_index(moved) == _month_index(day) + n
    last = calendar.monthrange(moved.year, moved.month)[1]
    assert moved.day == min(day.day, last)


@given(days)
def test_gdpr_due_one_month_later_clamped_to_month_end(received: date) -> None:
    due = deadlines.due_on("gdpr", received)
    assert 28 <= (due - received).days <= 31
    assert _month_index(due) == _month_index(received) + 1
    if received.day <= 28:
        assert due.day == received.day


@given(days)
def test_gdpr_extension_adds_two_months_to_the_first_period(received: date) -> None:
    first = deadlines.due_on("gdpr", received)
    extended = deadlines.extended_due_on("gdpr", first)
    assert _month_index(extended) == _month_index(received) + 3
    # Never later than three months from receipt (the extension runs from the first due day).
    assert extended <= deadlines.add_months(received, 3)
    assert extended > first


@given(days)
def test_ccpa_is_45_days_then_45_more(received: date) -> None:
    first = deadlines.due_on("ccpa", received)
    assert first - received == timedelta(days=45)
    assert deadlines.extended_due_on("ccpa", first) - received == timedelta(days=90)


def test_month_ends_and_leap_years() -> None:
    assert deadlines.due_on("gdpr", date(2025, 1, 31)) == date(2025, 2, 28)
    assert deadlines.due_on("gdpr", date(2024, 1, 31)) == date(2024, 2, 29)
    assert deadlines.due_on("gdpr", date(2024, 2, 29)) == date(2024, 3, 29)
    assert deadlines.due_on("gdpr", date(2025, 3, 31)) == date(2025, 4, 30)
    assert deadlines.due_on("gdpr", date(2025, 12, 15)) == date(2026, 1, 15)
    assert deadlines.extended_due_on("gdpr", date(2025, 2, 28)) == date(2025, 4, 28)
    assert deadlines.due_on("ccpa", date(2024, 12, 31)) == date(2025, 2, 14)


@given(days, days)
def test_days_left_is_negative_exactly_when_overdue(due: date, today: date) -> None:
    left = deadlines.days_left(due, today)
    assert (left < 0) == (today > due)
    assert today + timedelta(days=left) == due


@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1)))
def test_breach_deadline_is_72_hours_after_detection(detected: datetime) -> None:
    assert deadlines.breach_deadline(detected) - detected == timedelta(hours=72)

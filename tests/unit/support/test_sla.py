"""SLA targets count business hours of the installation's calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from clientvault.support.sla import Calendar, business_hours_between, due_at, target_state

PARIS = Calendar(ZoneInfo("Europe/Paris"), 9, 18, "12345")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)


def test_a_friday_evening_ticket_is_due_on_monday() -> None:
    # Friday 11 Dec 2026 17:00 Paris + 4 business hours = Monday 14 Dec 12:00.
    assert due_at(PARIS, paris(2026, 12, 11, 17), 4) == paris(2026, 12, 14, 12)
    assert business_hours_between(PARIS, paris(2026, 12, 11, 17), paris(2026, 12, 14, 12)) == 4


def test_partial_hours_and_nights_count_right() -> None:
    assert business_hours_between(PARIS, paris(2026, 12, 7, 8, 30), paris(2026, 12, 7, 9, 45)) == (
        pytest.approx(0.75)
    )
    assert business_hours_between(PARIS, paris(2026, 12, 7, 18), paris(2026, 12, 8, 9)) == 0
    assert business_hours_between(PARIS, paris(2026, 12, 8), paris(2026, 12, 7)) == 0


def test_states_warn_before_and_mark_the_breach() -> None:
    created = paris(2026, 12, 7, 9)

    def state(now: datetime, done: datetime | None = None) -> str:
        return target_state(
            PARIS,
            target="first_response",
            created_at=created,
            hours=8,
            done_at=done,
            now=now,
            warn_share=0.2,
        ).state

    assert state(paris(2026, 12, 7, 10)) == "on_track"
    assert state(paris(2026, 12, 7, 15, 30)) == "warning"  # 1.5 h of 8 left
    assert state(paris(2026, 12, 7, 17, 1)) == "breached"
    assert state(paris(2026, 12, 8, 12), done=paris(2026, 12, 7, 16)) == "met"
    assert state(paris(2026, 12, 8, 12), done=created + timedelta(hours=9)) == "breached"

"""Schedules' texts and their slots: intervals from the last start, times of day in the
installation's time zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clientvault.errors import ConfigurationError
from clientvault.settings import Settings
from clientvault.store.schedule import Daily, Interval, parse_schedule

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("every 5 seconds", Interval(timedelta(seconds=5))),
        ("every 1 minute", Interval(timedelta(minutes=1))),
        ("Every  15   minutes", Interval(timedelta(minutes=15))),
        ("every 2 hours", Interval(timedelta(hours=2))),
        ("hourly", Interval(timedelta(hours=1))),
        ("daily at 03:00", Daily(time(3, 0))),
        ("DAILY AT 23:59", Daily(time(23, 59))),
    ],
)
def test_schedules_are_read(text: str, schedule: Interval | Daily) -> None:
    assert parse_schedule(text) == schedule


@pytest.mark.parametrize(
    "text",
    ["", "every 0 minutes", "every -1 hours", "every 5 days", "daily at 24:00", "daily 03:00",
     "0 3 * * *", "every 5 minutes please"],
)  # fmt: skip
def test_unknown_schedules_are_refused_clearly(text: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown schedule"):
        parse_schedule(text)


def test_a_time_of_day_follows_the_local_clock_across_daylight_saving() -> None:
    at_three = Daily(time(3, 0))
    # Paris goes from UTC+1 to UTC+2 on 29 March 2026 at 02:00 local.
    before = datetime(2026, 3, 28, 3, 0, tzinfo=PARIS).astimezone(UTC)
    after = at_three.next_after(before, PARIS)
    assert after == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 local, now UTC+2
    assert after - before == timedelta(hours=23)
    # 02:30 does not exist that day: it is read with the offset before the change.
    assert Daily(time(2, 30)).next_after(before, PARIS) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # A new daily job waits for its time; a new interval job is due at once.
    noon = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert at_three.first_run(noon, PARIS) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert Interval(timedelta(minutes=5)).first_run(noon, PARIS) == noon


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    at=st.times(),
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"]),
)
def test_the_next_daily_slot_is_the_first_one_after(moment: datetime, at: time, zone: str) -> None:
    tz = ZoneInfo(zone)
    slot = Daily(at.replace(microsecond=0)).next_after(moment, tz)
    assert moment < slot <= moment + timedelta(days=1, hours=1)
    local = slot.astimezone(tz)
    # The wall-clock time is the one asked for, except on a day it does not exist.
    if local.time() != at.replace(microsecond=0):
        assert (
            slot.astimezone(tz).utcoffset()
            != (slot - timedelta(hours=3)).astimezone(tz).utcoffset()
        )


def test_the_installation_time_zone_is_checked() -> None:
    assert Settings(timezone="Europe/Paris").zone == PARIS
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(timezone="Mars/Olympus_Mons")

"""Scheduled jobs as domains declare them: a name, a schedule, a callable and a lease.

A schedule is one of two small forms, read in the installation's time zone
(``Settings.timezone``):

- an interval, ``every 30 seconds`` / ``every 15 minutes`` / ``every 2 hours`` (or ``hourly``),
  counted from the start of the previous run;
- a time of day, ``daily at 03:00``, local wall-clock time.

Written by hand rather than with a cron library (``croniter``): these two forms are all the
jobs need, their grammar is one regular expression, and the only hard part (wall-clock time
across daylight-saving changes) is the standard library's ``zoneinfo``. A cron expression
can be added as a third form with ``croniter`` when a domain needs one.

The lease row each job has in the database, and the loop that takes and runs due jobs, are
``automation.scheduler``'s; this module is below every domain so each can declare its jobs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from clientvault.errors import ConfigurationError
from clientvault.settings import Settings
from clientvault.store.context import Store

_EVERY = re.compile(r"every\s+([1-9][0-9]{0,5})\s+(second|minute|hour)s?")
_DAILY = re.compile(r"daily\s+at\s+([01][0-9]|2[0-3]):([0-5][0-9])")
_UNITS = {"second": 1, "minute": 60, "hour": 3600}
#: What a job's name may be: ``domain.what-it-does``, lower case (it appears in URLs).
JOB_NAME_PATTERN = r"^[a-z0-9][a-z0-9.\-]{0,63}$"


@dataclass(frozen=True)
class Interval:
    """Runs every ``period``, counted from the previous run's start; first run at once."""

    period: timedelta

    def first_run(self, now: datetime, zone: ZoneInfo) -> datetime:
        """When a job never run before is first due: straight away."""
        return now

    def next_after(self, start: datetime, zone: ZoneInfo) -> datetime:
        """The slot after a run started at ``start``."""
        return start + self.period


@dataclass(frozen=True)
class Daily:
    """Runs once a day at a local wall-clock time of the installation's time zone."""

    at: time

    def first_run(self, now: datetime, zone: ZoneInfo) -> datetime:
        """When a job never run before is first due: the next time of day."""
        return self.next_after(now, zone)

    def next_after(self, start: datetime, zone: ZoneInfo) -> datetime:
        """The first ``at`` strictly after ``start``, in UTC. On the day clocks go forward,
        a time that does not exist locally is read with the offset before the change."""
        moment = start.astimezone(UTC)
        day = moment.astimezone(zone).date()
        while True:
            candidate = datetime.combine(day, self.at, tzinfo=zone).astimezone(UTC)
            if candidate > moment:
                return candidate
            day += timedelta(days=1)


Schedule = Interval | Daily


def parse_schedule(text: str) -> Schedule:
    """Read a schedule's text (see the module's docstring); a clear error if it is neither form."""
    spoken = " ".join(text.lower().split())
    if spoken == "hourly":
        return Interval(timedelta(hours=1))
    if every := _EVERY.fullmatch(spoken):
        return Interval(timedelta(seconds=int(every[1]) * _UNITS[every[2]]))
    if daily := _DAILY.fullmatch(spoken):
        return Daily(time(int(daily[1]), int(daily[2])))
    raise ConfigurationError(
        f"unknown schedule {text!r}: write 'every N seconds|minutes|hours', 'hourly' "
        "or 'daily at HH:MM'"
    )


def _always(settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class ScheduledJob:
    """A job a domain declares: ``run(store, settings)`` on ``schedule(settings)``.

    ``lease`` is how long one run may hold the job: a worker killed mid-run keeps it that
    long, after which another worker may run the job at its next slot. Pick it well above the
    job's longest run, or a slow run could be started twice. ``enabled`` turns the job off
    from settings (e-mail delivery without SMTP); the job is still listed.
    """

    name: str
    schedule: Callable[[Settings], str]
    run: Callable[[Store, Settings], object]
    lease: timedelta
    description: str
    enabled: Callable[[Settings], bool] = field(default=_always)

    def __post_init__(self) -> None:
        if not re.fullmatch(JOB_NAME_PATTERN, self.name):
            raise ValueError(f"a scheduled job's name must match {JOB_NAME_PATTERN}: {self.name!r}")

    def schedule_of(self, settings: Settings) -> Schedule:
        """This job's parsed schedule under ``settings``."""
        return parse_schedule(self.schedule(settings))

"""The scheduler against a real database (both backends): one run per slot whatever the
number of workers, failures recorded and retried at the next slot, a dead worker's lease
freed after its timeout. The clock is injected: no test sleeps for a slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clientvault.automation.jobs import list_jobs
from clientvault.automation.scheduler import JobStatus, Scheduler, job_statuses
from clientvault.automation.worker import Worker
from clientvault.domains import CONSUMERS, JOBS
from clientvault.migrations.schema import load_holders
from clientvault.security import audit
from clientvault.security.alerts import inbox
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store
from clientvault.store.schedule import ScheduledJob
from support.alert_policy import at_any_hour
from support.killable_scheduler import killable_job

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Clock:
    """A settable clock shared by the workers of a test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Killed(BaseException):
    """What a worker killed mid-run looks like from the database: it never comes back."""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def second_store(db_settings: Settings) -> Iterator[Store]:
    """Another worker's own store (own engine and connections) on the same database."""
    store = open_store(db_settings)
    yield store
    store.close()


def _job(run: object, *, lease: timedelta = timedelta(minutes=10)) -> ScheduledJob:
    return ScheduledJob(
        name="test.job",
        description="a test job",
        schedule=lambda settings: "every 1 minute",
        run=run,  # type: ignore[arg-type]
        lease=lease,
    )


def _status(store: Store, settings: Settings, job: ScheduledJob, now: datetime) -> JobStatus:
    with store.read_sessions() as session:
        [status] = job_statuses(session, [job], settings, now=now)
    return status


def test_two_workers_never_run_one_slot_twice(
    db: Store, second_store: Store, db_settings: Settings, clock: Clock
) -> None:
    runs: list[tuple[datetime, str]] = []
    lock = threading.Lock()
    current = threading.local()

    def record(store: Store, settings: Settings) -> None:
        with lock:
            runs.append((clock.now, current.owner))

    job = _job(record)
    workers = [
        Scheduler(store, db_settings, [job], owner=name, clock=clock)
        for store, name in ((db, "worker-a"), (second_store, "worker-b"))
    ]
    slots = 6
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def work(scheduler: Scheduler) -> None:
        current.owner = scheduler.owner
        try:
            for _ in range(slots):
                barrier.wait()  # both workers ask for the same slot at the same moment
                scheduler.run_due()
                scheduler.run_due()  # asking again within the slot runs nothing more
                if barrier.wait() == 0:
                    clock.now += MINUTE  # the next slot, once both are done with this one
        except BaseException as exc:  # surfaced in the test thread below
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert sorted(slot for slot, _ in runs) == [START + i * MINUTE for i in range(slots)]
    status = _status(db, db_settings, job, clock.now)
    assert status.run_count == slots
    assert status.last_status == "ok"
    assert status.leased_by is None


def test_a_failing_job_is_recorded_and_retried_at_its_next_slot(
    db: Store, db_settings: Settings, clock: Clock
) -> None:
    attempts: list[datetime] = []

    def flaky(store: Store, settings: Settings) -> None:
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise RuntimeError("the relay refused the batch")

    job = _job(flaky)
    scheduler = Scheduler(db, db_settings, [job], clock=clock)
    assert scheduler.run_due() == 1
    failed = _status(db, db_settings, job, clock.now)
    assert failed.last_status == "failed"
    assert failed.last_error == "RuntimeError: the relay refused the batch"
    assert failed.leased_by is None  # the lease is freed even though the job raised
    assert failed.next_run_at == START + MINUTE

    clock.now = START + 30 * timedelta(seconds=1)
    assert scheduler.run_due() == 0  # not retried before its next slot
    clock.now = START + MINUTE
    assert scheduler.run_due() == 1
    recovered = _status(db, db_settings, job, clock.now)
    assert (recovered.last_status, recovered.last_error) == ("ok", None)
    assert recovered.run_count == 2
    assert attempts == [START, START + MINUTE]


def test_a_killed_worker_frees_the_lease_after_its_timeout(
    db: Store, second_store: Store, db_settings: Settings, clock: Clock
) -> None:
    ran_by: list[str] = []

    def dies_in_a(store: Store, settings: Settings) -> None:
        if store is db:
            raise Killed  # not an Exception: the run never reports back, like SIGKILL
        ran_by.append("b")

    job = _job(dies_in_a, lease=timedelta(minutes=10))
    a = Scheduler(db, db_settings, [job], owner="worker-a", clock=clock)
    b = Scheduler(second_store, db_settings, [job], owner="worker-b", clock=clock)
    with pytest.raises(Killed):
        a.run_due()

    clock.now = START + 5 * MINUTE  # slots have passed, but the dead worker's lease holds
    assert b.run_due() == 0
    held = _status(db, db_settings, job, clock.now)
    assert held.leased_by == "worker-a"
    assert held.lease_expires_at == START + 10 * MINUTE

    clock.now = START + 10 * MINUTE  # the lease has expired: the next worker takes the job
    assert b.run_due() == 1
    assert ran_by == ["b"]
    freed = _status(db, db_settings, job, clock.now)
    assert (freed.leased_by, freed.last_status, freed.run_count) == (None, "ok", 1)
    assert freed.next_run_at == START + 11 * MINUTE


def test_a_changed_schedule_reschedules_and_disabled_jobs_never_run(
    db: Store, db_settings: Settings, clock: Clock
) -> None:
    ran: list[str] = []
    daily = ScheduledJob(
        name="test.daily",
        description="a daily job",
        schedule=lambda settings: f"daily at {settings.retention.interval_minutes:02d}:00",
        run=lambda store, settings: ran.append("daily"),
        lease=MINUTE,
    )
    off = ScheduledJob(
        name="test.off",
        description="an optional job",
        schedule=lambda settings: "every 1 second",
        run=lambda store, settings: ran.append("off"),
        lease=MINUTE,
        enabled=lambda settings: False,
    )
    at_ten = db_settings.model_copy(
        update={
            "timezone": "Europe/Paris",
            "retention": db_settings.retention.model_copy(update={"interval_minutes": 10}),
        }
    )
    assert Scheduler(db, at_ten, [daily, off], clock=clock).run_due() == 0
    # 10:00 in Paris (UTC+1 in December) is 09:00 UTC: START itself is not "after" START.
    assert _status(db, at_ten, daily, START).next_run_at == START + timedelta(days=1)
    at_eleven = at_ten.model_copy(
        update={"retention": at_ten.retention.model_copy(update={"interval_minutes": 11})}
    )
    Scheduler(db, at_eleven, [daily, off], clock=clock).run_due()
    assert _status(db, at_eleven, daily, START).next_run_at == START + 60 * MINUTE
    clock.now = START + 60 * MINUTE
    assert Scheduler(db, at_eleven, [daily, off], clock=clock).run_due() == 1
    assert ran == ["daily"]
    off_status = _status(db, at_eleven, off, clock.now)
    assert not off_status.enabled
    assert off_status.run_count == 0


def test_the_real_jobs_run_on_the_scheduler(db: Store, db_settings: Settings) -> None:
    load_holders()  # as the worker's callers do: retention erases through every holder
    scheduler = Scheduler(db, db_settings, JOBS)
    ran = scheduler.run_due()
    with db.read_sessions() as session:
        statuses = {job.name: job for job in list_jobs(session, db_settings, JOBS)}
    enabled = {name for name, job in statuses.items() if job.enabled}
    # Every domain's jobs are on out of the box, but mail delivery and the audit checkpoints,
    # which need settings. The jobs whose slot is now ran, and every one of them succeeded;
    # those with a time of day (backups, retraining…) wait for it.
    assert {"security.access-alerts", "privacy.request-deadlines", "privacy.retention"} <= enabled
    assert "automation.outbox-delivery" not in enabled
    started = {name for name, job in statuses.items() if job.last_started_at is not None}
    assert ran == len(started)
    assert {"security.access-alerts", "privacy.request-deadlines", "privacy.retention"} <= started
    for name in started:
        assert (statuses[name].last_status, statuses[name].last_error) == ("ok", None), name
    assert statuses["automation.outbox-delivery"].last_started_at is None


def test_the_worker_raises_access_alerts_through_the_scheduler(
    db: Store, db_settings: Settings
) -> None:
    exporter = Principal.user(uuid.uuid4(), role="marketer", permissions=frozenset())
    with db.sessions.begin() as session:
        audit.record(session, principal=exporter, action="mfa.replay_refused")
    settings = db_settings.model_copy(update={"security": at_any_hour(db_settings.security)})
    worker = Worker(db, settings, consumers=CONSUMERS, jobs=JOBS, poll_seconds=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with db.read_sessions() as session:
                if inbox.count_open(session):
                    break
            time.sleep(0.05)
    finally:
        worker.stop()
    with db.read_sessions() as session:
        assert [a.kind for a in inbox.list_alerts(session)] == ["mfa_replay"]
        [status] = [
            s for s in list_jobs(session, settings, JOBS) if s.name == "security.access-alerts"
        ]
    assert status.last_status == "ok"


def test_a_worker_process_killed_mid_job_frees_the_lease_after_its_timeout(
    db: Store, db_settings: Settings, tmp_path: Path
) -> None:
    """The same as above with a real process and a real SIGKILL: the lease row the dead
    worker wrote holds until its expiry, then another worker runs the job and records it."""
    marker = tmp_path / "running"
    tests_dir = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-m", "support.killable_scheduler", db_settings.model_dump_json(), marker],
        env={**os.environ, "PYTHONPATH": str(tests_dir)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the worker died before taking the job"
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    job = killable_job()
    with db.read_sessions() as session:
        [held] = job_statuses(session, [job], db_settings, now=datetime.now(UTC))
    assert held.leased_by == "doomed-worker"
    assert held.lease_expires_at is not None
    expiry = held.lease_expires_at
    before = Scheduler(db, db_settings, [job], owner="heir", clock=lambda: expiry - MINUTE / 2)
    assert before.run_due() == 0  # the slot has passed, but the dead worker's lease holds
    after = Scheduler(db, db_settings, [job], owner="heir", clock=lambda: expiry)
    assert after.run_due() == 1
    freed = _status(db, db_settings, job, expiry)
    assert (freed.leased_by, freed.last_status, freed.run_count) == (None, "ok", 1)

"""SIGKILL the real worker (in a process of its own) at random moments while a journey has
people in flight, then check that every step was done once: e-mails counted at a loopback
SMTP server by Message-ID (derived from the outbox row, so a resend after a kill between the
SMTP answer and its record carries the same id) and webhook calls at a loopback receiver by
idempotency key. Used small by ``tests/integration/automation/journeys/test_crash.py`` and at
full size (1,000 people, 3 kills) by ``bench/probe_journey_crash.py``."""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import random
import signal
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

from sqlalchemy import func, select, update

from clientvault.automation.journeys.jobs import webhook_key
from clientvault.automation.journeys.models import JourneyRun, JourneyStepLog, JourneyWebhook
from clientvault.automation.models import ScheduledJobState
from clientvault.domains import build_worker
from clientvault.messaging.models import OutboxMessage
from clientvault.migrations.schema import load_holders
from clientvault.settings import AutomationSettings, Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store, open_store
from support.journeys import journey, sign_up_many, template
from support.mailbox import Mailbox, smtp_server
from support.webhooks import Receiver, webhook_receiver

STEPS = 4  # e-mail, webhook, points, e-mail
#: Where the webhook receiver listens: allowed to webhooks, at save and at call.
RECEIVER_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
#: What a person's way through the journey counts in ``_progress``: the run, its steps and
#: its two e-mails sent.
WORK = 1 + STEPS + 2
SMTP_BATCH = 10


@dataclass
class CrashReport:
    """What a crash run saw: when each kill fell (seconds after the worker began), how long
    it took, and the counts checked."""

    kills_at: list[float] = field(default_factory=list)
    #: ``_progress`` when each kill fell (of ``people * WORK`` in all).
    done_at_kills: list[int] = field(default_factory=list)
    seconds: float = 0.0
    people: int = 0
    emails_received: int = 0
    distinct_emails: int = 0
    webhook_calls: int = 0
    distinct_webhooks: int = 0
    step_rows: int = 0


def _work(settings: Settings) -> None:
    """The child: the real worker on its own store, until killed."""
    load_holders()
    store = open_store(settings)
    build_worker(store, settings, poll_seconds=0.05).run_forever()


def _worker(settings: Settings, mailbox: Mailbox) -> BaseProcess:
    """The real worker in a fresh process, as ``clientvault worker`` is one. Spawned, not
    forked: a fork of the test process (threads of earlier tests, thread pools of numerical
    libraries, servers of this test) may copy a lock some thread held, and the worker then
    waits for it forever."""
    configured = settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(
                update={
                    "enabled": True,
                    "host": mailbox.host,
                    "port": mailbox.port,
                    "batch_size": SMTP_BATCH,
                }
            ),
            "automation": AutomationSettings(
                quiet_hours_start=0,
                quiet_hours_end=0,
                advance_seconds=1,
                batch_size=20,
                webhook_allowed_networks=RECEIVER_NETWORKS,
            ),
        }
    )
    process = multiprocessing.get_context("spawn").Process(target=_work, args=(configured,))
    process.start()
    return process


def _expire_leases(store: Store) -> None:
    """Fast-forward past the leases the killed worker held (its jobs' leases, its claimed
    e-mails and webhook calls): what their timeouts do after minutes in production."""
    now = utcnow()
    with store.sessions.begin() as session:
        session.execute(
            update(ScheduledJobState)
            .where(ScheduledJobState.lease_expires_at.is_not(None))
            .values(lease_expires_at=now, next_run_at=now)
        )
        session.execute(
            update(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).values(next_attempt_at=now)
        )
        session.execute(
            update(JourneyWebhook)
            .where(JourneyWebhook.delivered_at.is_(None))
            .values(next_attempt_at=now)
        )


def _progress(store: Store) -> int:
    """Runs started, steps done and e-mails sent so far (``WORK`` per person in the end)."""
    with store.read_sessions() as session:  # never waits for the worker's writes
        runs = session.scalar(select(func.count()).select_from(JourneyRun)) or 0
        steps = session.scalar(select(func.count()).select_from(JourneyStepLog)) or 0
        sent = session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_not(None))) or 0
    return runs + steps + sent


def _finished(store: Store, people: int) -> bool:
    with store.read_sessions() as session:  # never waits for the worker's writes
        runs = session.scalar(select(func.count()).select_from(JourneyRun))
        active = session.scalar(select(func.count()).where(JourneyRun.status == "active"))
        unsent = session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None)))
        undelivered = session.scalar(
            select(func.count()).where(JourneyWebhook.delivered_at.is_(None))
        )
    return runs == people and active == 0 and unsent == 0 and undelivered == 0


def _run_with_kills(
    store: Store,
    settings: Settings,
    mailbox: Mailbox,
    *,
    people: int,
    kills: int,
    seed: int,
    max_delay: float,
    deadline: float,
    report: CrashReport,
) -> None:
    chance = random.Random(seed)
    start = time.monotonic()
    # Random points of the whole journey's work (runs started, steps done, e-mails sent: 7
    # per person), one in each of ``kills`` equal stretches of 5-90 % of it, so the kills fall
    # with people in flight early, midway and late, whatever the machine's speed.
    stretch = 0.85 / kills
    targets = [int((0.05 + stretch * (k + chance.random())) * WORK * people) for k in range(kills)]
    for target in targets:
        worker = _worker(settings, mailbox)
        began = time.monotonic()
        try:
            wait_until = began + deadline
            while _progress(store) < target and time.monotonic() < wait_until:
                time.sleep(0.02)
            time.sleep(chance.uniform(0.0, max_delay))  # at a random instant of its work
        finally:  # also when the wait fails: a live worker would outlast the run
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGKILL)
            worker.join()
        report.kills_at.append(round(time.monotonic() - began, 2))
        report.done_at_kills.append(_progress(store))
        _expire_leases(store)
    worker = _worker(settings, mailbox)
    try:
        end = time.monotonic() + deadline
        while not _finished(store, people) and time.monotonic() < end:
            time.sleep(0.2)
    finally:
        worker.kill()
        worker.join()
    report.seconds = round(time.monotonic() - start, 1)
    assert _finished(store, people), "the journey did not finish before the deadline"


def crash_run(
    store: Store,
    settings: Settings,
    *,
    people: int,
    kills: int,
    seed: int,
    max_delay: float = 0.3,
    deadline: float = 60.0,
) -> CrashReport:
    """A four-step journey (e-mail, webhook, points, e-mail) for ``people`` who sign up, the
    worker SIGKILLed ``kills`` times at random moments (``seed``), then left to finish; every
    person must end with each step done exactly once (assertions), and the counts are kept."""
    template(store, "first", subject="First", text="Hello {{ customer.first_name }}", html="")
    template(store, "second", subject="Second", text="Again {{ customer.first_name }}", html="")
    report = CrashReport(people=people)
    with smtp_server() as mailbox, webhook_receiver(webhook_key(store, settings)) as receiver:
        journey(
            store,
            "Crash",
            {
                "trigger": {"kind": "event", "event": "Signed Up"},
                "steps": [
                    {"id": "first", "type": "send_email", "template": "first"},
                    {"id": "hook", "type": "webhook", "url": receiver.url},
                    {"id": "score", "type": "points", "points": 5},
                    {"id": "second", "type": "send_email", "template": "second"},
                ],
            },
            webhook_networks=RECEIVER_NETWORKS,
        )
        sign_up_many(store, people)
        _run_with_kills(
            store,
            settings,
            mailbox,
            people=people,
            kills=kills,
            seed=seed,
            max_delay=max_delay,
            deadline=deadline,
            report=report,
        )
        _check(store, mailbox, receiver, people=people, kills=kills, report=report)
    return report


def _check(
    store: Store,
    mailbox: Mailbox,
    receiver: Receiver,
    *,
    people: int,
    kills: int,
    report: CrashReport,
) -> None:
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for message, rcpt in zip(mailbox.messages, mailbox.recipients, strict=True):
        ids[(rcpt[0], str(message["Subject"]))].add(str(message["Message-ID"]))
    addresses = {f"person.{n}@example.com" for n in range(people)}
    report.emails_received, report.distinct_emails = len(mailbox.messages), len(ids)
    calls = Counter(receiver.keys)
    report.webhook_calls, report.distinct_webhooks = len(receiver.keys), len(calls)
    assert {key for key in ids} == {(p, s) for p in addresses for s in ("First", "Second")}
    assert all(len(found) == 1 for found in ids.values())  # each e-mail queued exactly once
    # Resends (a kill between the relay's answer and its record) carry the same Message-ID.
    assert len(mailbox.messages) - len(ids) <= kills * SMTP_BATCH
    assert len(calls) == people
    assert receiver.bad_signatures == 0
    with store.read_sessions() as session:  # never waits for the worker's writes
        runs = session.scalars(select(JourneyRun)).all()
        steps = session.execute(
            select(JourneyStepLog.run_id, func.count()).group_by(JourneyStepLog.run_id)
        ).all()
    report.step_rows = sum(count for _, count in steps)
    assert {run.status for run in runs} == {"completed"}
    assert len(runs) == people
    assert {count for _, count in steps} == {STEPS}

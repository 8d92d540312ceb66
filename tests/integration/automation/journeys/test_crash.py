"""SIGKILL the real worker (in a forked process) at random moments while a
journey has people in flight: every step is done once. E-mails are counted at a loopback
SMTP server by Message-ID (derived from the outbox row, so a resend after a kill between the
SMTP answer and its record carries the same id) and webhook calls at a loopback receiver by
idempotency key. Small here (people, rounds); ``bench/bench_automation.py`` runs it bigger."""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import random
import signal
import time
from collections import Counter, defaultdict
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

PEOPLE = 20
KILLS = 2
SEED = 20_261_207
STEPS = 4  # e-mail, webhook, points, e-mail


def _work(settings: Settings) -> None:
    """The child: the real worker on its own store, until killed."""
    load_holders()
    store = open_store(settings)
    build_worker(store, settings, poll_seconds=0.05).run_forever()


def _worker(settings: Settings, mailbox: Mailbox) -> BaseProcess:
    """The real worker in a forked process (the parent's imports are inherited, so it starts
    at once where ``clientvault worker`` would spend seconds importing on a loaded machine)."""
    configured = settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(
                update={
                    "enabled": True,
                    "host": mailbox.host,
                    "port": mailbox.port,
                    "batch_size": 10,
                }
            ),
            "automation": AutomationSettings(
                quiet_hours_start=0,
                quiet_hours_end=0,
                advance_seconds=1,
                batch_size=20,
                webhook_allowed_networks=[ipaddress.ip_network("127.0.0.0/8")],  # the receiver
            ),
        }
    )
    process = multiprocessing.get_context("fork").Process(target=_work, args=(configured,))
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
    with store.sessions() as session:
        steps = session.scalar(select(func.count()).select_from(JourneyStepLog)) or 0
        sent = session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_not(None))) or 0
    return steps + sent


def _finished(store: Store) -> bool:
    with store.sessions() as session:
        runs = session.scalar(select(func.count()).select_from(JourneyRun))
        active = session.scalar(select(func.count()).where(JourneyRun.status == "active"))
        unsent = session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None)))
        undelivered = session.scalar(
            select(func.count()).where(JourneyWebhook.delivered_at.is_(None))
        )
    return runs == PEOPLE and active == 0 and unsent == 0 and undelivered == 0


def _run_with_kills(store: Store, settings: Settings, mailbox: Mailbox) -> None:
    chance = random.Random(SEED)
    for _ in range(KILLS):
        before = _progress(store)
        worker = _worker(settings, mailbox)
        deadline = time.monotonic() + 30
        while _progress(store) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(chance.uniform(0.0, 0.6))  # killed somewhere in the middle of its work
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
        _expire_leases(store)
    worker = _worker(settings, mailbox)
    try:
        deadline = time.monotonic() + 60
        while not _finished(store) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.kill()
        worker.join()
    assert _finished(store)


def test_sigkill_during_a_journey_repeats_and_skips_no_step(
    db: Store, db_settings: Settings
) -> None:
    template(db, "first", subject="First", text="Hello {{ customer.first_name }}", html="")
    template(db, "second", subject="Second", text="Again {{ customer.first_name }}", html="")
    with smtp_server() as mailbox, webhook_receiver(webhook_key(db, db_settings)) as receiver:
        journey(
            db,
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
        )
        sign_up_many(db, PEOPLE)
        _run_with_kills(db, db_settings, mailbox)
        _check(db, mailbox, receiver)


def _check(store: Store, mailbox: Mailbox, receiver: Receiver) -> None:
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for message, rcpt in zip(mailbox.messages, mailbox.recipients, strict=True):
        ids[(rcpt[0], str(message["Subject"]))].add(str(message["Message-ID"]))
    people = {f"person.{n}@example.com" for n in range(PEOPLE)}
    assert {key for key in ids} == {(p, s) for p in people for s in ("First", "Second")}
    assert all(len(found) == 1 for found in ids.values())  # each e-mail queued exactly once
    # Resends (a kill between the relay's answer and its record) carry the same Message-ID.
    assert len(mailbox.messages) - len(ids) <= KILLS * 10
    calls = Counter(receiver.keys)
    assert len(calls) == PEOPLE
    assert receiver.bad_signatures == 0
    with store.sessions() as session:
        runs = session.scalars(select(JourneyRun)).all()
        steps = session.execute(
            select(JourneyStepLog.run_id, func.count()).group_by(JourneyStepLog.run_id)
        ).all()
    assert {run.status for run in runs} == {"completed"}
    assert len(runs) == PEOPLE
    assert {count for _, count in steps} == {STEPS}

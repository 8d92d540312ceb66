"""Journeys: trigger evaluation over the event log, and marketing e-mails delivered over SMTP.

Setup: a fresh installation (SQLite, and PostgreSQL when a URL is configured) with N track
events (default 10,000; 1,000 people, eight event names) on the log and 20 active journeys
whose triggers listen to those names (event triggers with property filters, and
cart-abandonment triggers); people consent to marketing e-mail, so matching events start runs.
1. Trigger evaluation. Ours: the journeys' consumer (``automation.journeys``) reading the whole
   log, matching every event against the 20 triggers and starting the runs, in events/s.
   Baseline: in the same run, a consumer of the same events whose handler does nothing (the
   plain scan of the log: read past a cursor, move it).
2. E-mail. Ours: M people (default 300) in a welcome journey: runs advanced (each e-mail
   rendered in the sandbox, names opened through the audited reveal, preference links signed,
   sealed into the outbox) then the outbox delivered to an aiosmtpd server on loopback, in
   e-mails/s. Baseline: the same number of similar messages sent with smtplib over one
   connection to the same server (SMTP alone).
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import time
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from sqlalchemy import func, select

from _common import backends, fresh_installation, report
from clientvault.automation.journeys import catalogue
from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, advance_due
from clientvault.automation.journeys.models import JourneyRun
from clientvault.ingest.consumers import Consumer, drain
from clientvault.ingest.models import Event
from clientvault.messaging import delivery
from clientvault.migrations.schema import load_holders
from clientvault.security.principal import Principal
from clientvault.settings import AutomationSettings, Settings
from clientvault.store.context import Store
from support.journeys import ingest_in_chunks, sign_up_many
from support.mailbox import smtp_server

MARKETER = Principal.system("bench", "campaigns:manage")
NAMES = (
    "Product Viewed",
    "Product Added",
    "Order Completed",
    "Signed Up",
    "Page Viewed",
    "Search",
    "Coupon Applied",
    "App Opened",
)


def _events(store: Store, count: int, people: int, *, prefix: str) -> None:
    ingest_in_chunks(
        store,
        [
            {
                "type": "track",
                "userId": f"user-{n % people}",
                "messageId": f"{prefix}{n}",
                "event": NAMES[n % len(NAMES)],
                "properties": {"plan": "pro" if n % 3 else "free", "price": n % 100},
            }
            for n in range(count)
        ],
    )


def _journeys(store: Store, count: int) -> None:
    with store.sessions.begin() as session:
        catalogue.save_template(
            session,
            name="welcome",
            subject="Welcome",
            html="<p>Hi {{ customer.first_name }}</p>",
            text="Hi {{ customer.first_name }}",
            by=MARKETER,
        )
        for n in range(count):
            name = NAMES[n % len(NAMES)]
            trigger = (
                {
                    "kind": "event_not_followed",
                    "event": name,
                    "unless": "Order Completed",
                    "within_minutes": 120,
                }
                if n % 4 == 3
                else {
                    "kind": "event",
                    "event": name,
                    "filters": [{"field": "price", "op": "gte", "value": n * 5}],
                }
            )
            made = catalogue.create_journey(
                session,
                name=f"J{n}",
                description="",
                by=MARKETER,
                definition={
                    "trigger": trigger,
                    "steps": [
                        {"id": "wait", "type": "wait", "minutes": 60 * 24},
                        {"id": "send", "type": "send_email", "template": "welcome"},
                    ],
                },
            )
            catalogue.change_status(session, made.id, "activate", by=MARKETER)


def _noop(session: object, store: object, events: Sequence[Event]) -> None:
    return None


def bench_triggers(store: Store, events: int, people: int, journeys: int) -> None:
    sign_up_many(store, people, event=None)
    _journeys(store, journeys)
    _events(store, events, people, prefix="t")
    with store.read_sessions() as session:
        tracked = session.scalar(select(func.count()).where(Event.type == "track")) or 0
    plain = Consumer(name="bench.plain-scan", handle=_noop, event_types=frozenset({"track"}))
    start = time.perf_counter()
    drain(store, plain)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    drain(store, JOURNEY_CONSUMER)
    ours = time.perf_counter() - start
    with store.read_sessions() as session:
        runs = session.scalar(select(func.count()).select_from(JourneyRun)) or 0
    print(f"  {tracked:,} track events, {journeys} active journeys, {runs:,} runs started")
    report("trigger evaluation", ours=tracked / ours, baseline=tracked / baseline, unit="events/s")


def bench_email(store: Store, settings: Settings, people: int) -> None:
    with store.sessions.begin() as session:
        made = catalogue.create_journey(
            session,
            name="Welcome",
            description="",
            by=MARKETER,
            definition={
                "trigger": {"kind": "event", "event": "Joined"},
                "steps": [{"id": "send", "type": "send_email", "template": "welcome"}],
            },
        )
        catalogue.change_status(session, made.id, "activate", by=MARKETER)
    ingest_in_chunks(
        store,
        [
            {"type": "track", "userId": f"user-{n}", "event": "Joined", "messageId": f"j{n}"}
            for n in range(people)
        ],
    )
    drain(store, JOURNEY_CONSUMER)
    with smtp_server() as mailbox:
        smtp = settings.smtp.model_copy(
            update={"enabled": True, "host": mailbox.host, "port": mailbox.port, "batch_size": 200}
        )
        configured = settings.model_copy(
            update={
                "smtp": smtp,
                "automation": AutomationSettings(
                    quiet_hours_start=0, quiet_hours_end=0, batch_size=1000, emails_per_week=100
                ),
            }
        )
        start = time.perf_counter()
        while advance_due(store, configured):
            pass
        queued = time.perf_counter() - start
        delivery.drain(store, smtp)
        ours = time.perf_counter() - start
        sent = len(mailbox.messages)
        mailbox.messages.clear()
        start = time.perf_counter()
        with smtplib.SMTP(mailbox.host, mailbox.port) as client:
            for n in range(sent):
                message = EmailMessage()
                message["From"] = smtp.from_address
                message["To"] = f"p{n}@example.com"
                message["Subject"] = "Welcome"
                message.set_content(f"Hi P{n}")
                message.add_alternative(f"<p>Hi P{n}</p>", subtype="html")
                client.send_message(message)
        baseline = time.perf_counter() - start
    print(f"  {sent:,} e-mails; queueing (render, reveal, seal) took {queued:.2f} s")
    report("e-mail delivered", ours=sent / ours, baseline=sent / baseline, unit="e-mails/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--journeys", type=int, default=20)
    args = parser.parse_args()
    load_holders()
    for backend in backends():
        print(f"-- {backend}")
        with fresh_installation(backend) as store:
            bench_triggers(store, args.events, args.people, args.journeys)
            bench_email(store, Settings(env="test"), min(args.people, 300))


if __name__ == "__main__":
    main()

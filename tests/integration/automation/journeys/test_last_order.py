"""The "N days after the last order" date trigger, on the real parts: orders made by the
commerce consumer from ``Order Completed`` events on the log, merges and refunds through their
own paths, the daily job in the installation's time zone, and the real worker delivering the
e-mail to an SMTP server on loopback."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from sqlalchemy import select

from clientvault.automation.journeys import jobs
from clientvault.automation.journeys.engine import advance_due
from clientvault.automation.journeys.models import JourneyRun
from clientvault.domains import build_worker
from clientvault.identity.merges import merge_customers
from clientvault.ingest import consumers
from clientvault.ingest.commerce.consumer import CONSUMER as COMMERCE
from clientvault.privacy.erasure import erase_customer
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import ALWAYS, journey, sign_up, template, track, with_mail
from support.mailbox import smtp_server, text_of
from support.privacy_core import DPO, prepare

AUCKLAND = ZoneInfo("Pacific/Auckland")
REVIEWER = Principal.system("test-reviewer", "identity:review")


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock(hour, minute), tzinfo=AUCKLAND).astimezone(UTC)


def _order(store: Store, user: str, order_id: str, at: datetime, total: float = 20.0) -> None:
    track(store, user, "Order Completed", {"order_id": order_id, "total": total}, at=at)


def _runs(store: Store) -> list[tuple[object, str]]:
    with store.sessions() as session:
        return [
            (run.customer_id, run.entry_key)
            for run in session.scalars(select(JourneyRun).order_by(JourneyRun.id))
        ]


def test_n_days_after_the_last_order_once_per_order_date_merges_refunds_and_erasure(
    db: Store, db_settings: Settings
) -> None:
    settings = db_settings.model_copy(update={"timezone": "Pacific/Auckland", "automation": ALWAYS})
    prepare(db)
    journey(
        db,
        "Win back",
        {
            "trigger": {"kind": "date", "attribute": "last_order", "offset_days": 30},
            "steps": [{"id": "mark", "type": "update_trait", "trait": "win_back", "value": True}],
            "reentry": {"mode": "every_time"},
        },
    )
    ada, bob, carl, carl_too, dora, eve, fay = (sign_up(db, n) for n in range(1, 8))
    ordered = date(2026, 2, 13)
    # 23:30 in Auckland is still 13 February there, but 10:30 UTC the same day: the local date
    # counts. 00:30 on the 14th in Auckland is 11:30 UTC on the 13th: it does not.
    _order(db, "user-1", "o-ada", _local(ordered, 23, 30))
    _order(db, "user-2", "o-bob-1", _local(ordered, 12))
    _order(db, "user-2", "o-bob-2", _local(ordered + timedelta(days=7), 12))  # a later one
    _order(db, "user-4", "o-carl", _local(ordered, 12))  # Carl's second profile, merged below
    _order(db, "user-5", "o-dora-1", _local(ordered, 12))
    _order(db, "user-5", "o-dora-2", _local(ordered + timedelta(days=7), 12), total=30.0)
    track(db, "user-5", "Order Refunded", {"order_id": "o-dora-2", "total": 30.0})
    _order(db, "user-6", "o-eve", _local(ordered, 12))
    _order(db, "user-7", "o-fay", _local(ordered + timedelta(days=1), 0, 30))
    consumers.drain(db, COMMERCE)
    with db.sessions.begin() as session:
        merge_customers(
            session,
            db,
            survivor_id=carl,
            absorbed_id=carl_too,
            principal=REVIEWER,
            reason="same person",
        )
        erase_customer(session, db, customer_id=eve, principal=DPO, reason="test")

    thirty_days_on = date(2026, 3, 15)
    assert jobs.start_date_runs(db, settings, now=_local(thirty_days_on, 8, 59)) == 0  # early
    assert jobs.start_date_runs(db, settings, now=_local(thirty_days_on, 9, 5)) == 3
    assert jobs.start_date_runs(db, settings, now=_local(thirty_days_on, 18)) == 0  # once
    key = "last_order:2026-02-13"
    # Ada; Carl as the person his merged profile ordered for; Dora, whose later order was
    # refunded in full. Not Bob (he ordered again since), nor Eve (erased), nor Fay (her
    # order was on the 14th there).
    assert sorted(_runs(db)) == sorted([(ada, key), (carl, key), (dora, key)])
    assert not {bob, eve, fay, carl_too} & {c for c, _ in _runs(db)}
    assert jobs.start_date_runs(db, settings, now=_local(thirty_days_on, 23, 59)) == 0
    advance_due(db, settings, now=_local(thirty_days_on, 10))

    # Ada orders again: 30 days after that order she enters again (every_time), once.
    _order(db, "user-1", "o-ada-2", _local(date(2026, 3, 20), 15))
    consumers.drain(db, COMMERCE)
    later = date(2026, 4, 19)
    assert jobs.start_date_runs(db, settings, now=_local(later, 9, 30)) == 1
    assert jobs.start_date_runs(db, settings, now=_local(later, 10, 30)) == 0
    assert _runs(db)[-1] == (ada, "last_order:2026-03-20")


def test_the_order_date_and_today_are_the_customer_time_zone(
    db: Store, db_settings: Settings
) -> None:
    settings = db_settings.model_copy(update={"timezone": "Europe/Paris", "automation": ALWAYS})
    journey(
        db,
        "Win back",
        {
            "trigger": {"kind": "date", "attribute": "last_order", "offset_days": 30},
            "steps": [{"id": "mark", "type": "update_trait", "trait": "win_back", "value": True}],
        },
    )
    ada = sign_up(db, 1, traits={"timezone": "Pacific/Auckland"})
    bob = sign_up(db, 2)
    # One moment: 00:30 on 14 February in Auckland, 12:30 on the 13th in Paris.
    moment = datetime(2026, 2, 13, 11, 30, tzinfo=UTC)
    _order(db, "user-1", "o-ada", moment)
    _order(db, "user-2", "o-bob", moment)
    consumers.drain(db, COMMERCE)
    paris = ZoneInfo("Europe/Paris")
    bob_day = datetime(2026, 3, 15, 9, 30, tzinfo=paris)  # 21:30 in Auckland
    assert jobs.start_date_runs(db, settings, now=bob_day) == 1
    ada_day = datetime(2026, 3, 16, 9, 30, tzinfo=AUCKLAND)  # 21:30 on the 15th in Paris
    assert jobs.start_date_runs(db, settings, now=ada_day) == 1
    assert _runs(db) == [(bob, "last_order:2026-02-13"), (ada, "last_order:2026-02-14")]


def test_the_real_worker_sends_the_win_back_email_on_the_day(
    db: Store, db_settings: Settings
) -> None:
    template(db, "win-back", subject="We miss you", text="{{ customer.first_name }}, come back")
    journey(
        db,
        "Win back",
        {
            "trigger": {"kind": "date", "attribute": "last_order", "offset_days": 30, "at_hour": 0},
            "steps": [{"id": "miss-you", "type": "send_email", "template": "win-back"}],
        },
    )
    sign_up(db, 1, first_name="Grace")
    sign_up(db, 2, first_name="Linus")
    today = datetime.now(AUCKLAND).date()
    _order(db, "user-1", "o-1", _local(today - timedelta(days=30), 12))
    _order(db, "user-2", "o-2", _local(today - timedelta(days=29), 12))  # tomorrow's
    with smtp_server() as mailbox:
        settings = with_mail(
            db_settings.model_copy(update={"timezone": "Pacific/Auckland"}),
            mailbox.host,
            mailbox.port,
        )
        consumers.drain(db, COMMERCE)  # the orders exist when the worker's first date run comes
        worker = build_worker(db, settings, poll_seconds=0.05)
        worker.start()
        try:
            mailbox.wait_for_mail()
        finally:
            worker.stop()
    assert mailbox.recipients == [["person.1@example.com"]]
    assert "Grace, come back" in text_of(mailbox.messages[0])

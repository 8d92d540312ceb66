"""Retention purges (audited) and erasure surviving a restore: tombstones re-applied."""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select

from clientvault.automation.worker import Worker
from clientvault.domains import CONSUMERS, JOBS
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.identity.profiles import create_prepared_customers, prepare_profile
from clientvault.ingest.bulk_import import expiring_events, import_customers, import_events
from clientvault.ingest.models import Event
from clientvault.ingest.tracking import ingest
from clientvault.privacy.erasure import erase_customer, reapply_tombstones, tombstone_snapshot
from clientvault.privacy.models import ErasedCustomer, Erasure, ErasureTombstone
from clientvault.privacy.retention import months_before, run_retention
from clientvault.security.models import AuditEntry
from clientvault.settings import RetentionSettings, Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.keystore import DataKeyRecord
from support.history import dated_order, dated_track
from support.privacy_core import DPO, make_customers, person, prepare


def _track(store: Store, user_id: str, at: datetime, message_id: str) -> None:
    call = {
        "type": "track",
        "userId": user_id,
        "event": "Visited",
        "timestamp": at.isoformat(),
        "messageId": message_id,
    }
    with store.sessions.begin() as session:
        # Received when it happened: the event retention period counts from receipt.
        accepted = ingest(
            session, store, source="t", messages=[call], default_region="FR", received_at=at
        ).accepted
        assert accepted


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    moment = datetime.fromisoformat("2026-03-31T12:00:00+00:00")
    assert months_before(moment, 1).date().isoformat() == "2026-02-28"
    assert months_before(moment, 25).date().isoformat() == "2024-02-29"


def test_the_purge_removes_old_events_and_inactive_customers_and_audits_it(db: Store) -> None:
    prepare(db)
    now = utcnow()
    old = now - timedelta(days=4 * 365)
    with db.sessions.begin() as session:
        inactive, returning = create_prepared_customers(
            session,
            db,
            prepared=[prepare_profile(person(n), default_region="FR") for n in (1, 2)],
            source="t",
            created_at=[old, old],
        )
        session.execute(
            insert(CustomerIdentity).values(
                customer_id=returning, kind="user_id", value_index=db.index("user_id", "back")
            )
        )
    _track(db, "back", now - timedelta(days=30 * 30), "old-event")
    _track(db, "back", now - timedelta(days=3), "recent-event")
    [fresh] = make_customers(db, person(3))

    report = run_retention(db, RetentionSettings(inactive_customer_months=36))

    assert report.rows["ingest.events"] == 1
    assert report.customers_erased == 1
    with db.sessions() as session:
        left = set(session.scalars(select(Customer.id)))
        assert left == {returning, fresh}
        assert inactive not in left
        assert list(session.scalars(select(Event.message_id))) == ["recent-event"]
        # Retention is not a request: the person may come back, nothing is suppressed.
        assert session.scalar(select(func.count()).select_from(ErasureTombstone)) == 0
        actions = list(
            session.execute(
                select(AuditEntry.action, AuditEntry.details, AuditEntry.target_id).where(
                    AuditEntry.action.like("privacy.%")
                )
            )
        )
    purged = [details for action, details, _ in actions if action == "privacy.retention.purged"]
    assert purged[0]["holder"] == "ingest.events"
    assert purged[0]["rows"] == 1
    assert ("privacy.erasure", str(inactive)) in {(a, t) for a, _, t in actions}
    assert inactive not in db.keystore.keys_for([inactive])
    # Nothing left to do: a second run removes nothing.
    again = run_retention(db, RetentionSettings(inactive_customer_months=36))
    assert again.rows["ingest.events"] == 0
    assert again.customers_erased == 0


def test_history_imported_today_is_kept_by_the_next_purge(db: Store) -> None:
    """Retention counts from receipt (events) and last activity (customers): customers and
    events dated before every retention period, imported now, survive the next purge; orders
    past the accounting period (counted from the order date) are counted as expiring."""
    prepare(db)
    customers = "id,email,first_name,timestamp\n" + "".join(
        f"crm-{n},c{n}@example.com,Name{n},2019-0{n}-01T09:00:00Z\n" for n in range(1, 4)
    )
    summary = import_customers(
        db,
        stream=io.BytesIO(customers.encode()),
        default_region="FR",
    )
    assert (summary.accepted, summary.expiring) == (3, 0)
    events = [
        dated_track("crm-1", "Visited", "2018-05-01T10:00:00Z"),
        dated_order("crm-2", "o-2012", "2012-05-01T10:00:00Z", total=10),
        dated_order("crm-3", "o-2021", "2021-05-01T10:00:00Z", total=12),
    ]
    lines = "".join(json.dumps(event) + "\n" for event in events).encode()
    assert expiring_events(io.BytesIO(lines), retention=RetentionSettings()) == 1
    summary = import_events(
        db, stream=io.BytesIO(lines), default_region="FR", retention=RetentionSettings()
    )
    assert (summary.accepted, summary.expiring) == (3, 1)
    with db.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Event))
    assert before == 6

    report = run_retention(db, RetentionSettings())

    assert report.rows["ingest.events"] == 0
    assert report.customers_erased == 0
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 3
        assert session.scalar(select(func.count()).select_from(Event)) == before


def _rows(store: Store, customer_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """What a backup taken now holds of one customer (data and keystore)."""
    with store.sessions() as session:
        taken = {
            model.__tablename__: [
                {c.key: getattr(row, c.key) for c in model.__table__.columns}
                for row in session.scalars(select(model).where(column == customer_id))
            ]
            for model, column in (
                (Customer, Customer.id),
                (CustomerIdentity, CustomerIdentity.customer_id),
            )
        }
    with store.keystore.engine.connect() as connection:
        keys = connection.execute(
            select(DataKeyRecord.__table__).where(DataKeyRecord.customer_id == customer_id)
        )
        taken["data_keys"] = [dict(row._mapping) for row in keys]
    return taken


def test_a_restore_brings_nothing_back_once_tombstones_are_reapplied(db: Store) -> None:
    prepare(db)
    [customer_id, other] = make_customers(db, person(1), person(2))
    backup = _rows(db, customer_id)
    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=customer_id, principal=DPO, reason="request")
    with db.sessions() as session:
        snapshot = tombstone_snapshot(session)
    assert len(snapshot["erasures"]) == 1

    # The restore: the backup predates the erasure, so its register is empty and the
    # customer's rows (and, from the keystore backup, their data key) are back.
    with db.sessions.begin() as session:
        session.execute(delete(ErasureTombstone))
        session.execute(delete(ErasedCustomer))
        session.execute(delete(Erasure))
        session.execute(insert(Customer), backup["customers"])
        session.execute(insert(CustomerIdentity), backup["customer_identities"])
    with db.keystore.engine.begin() as connection:
        connection.execute(insert(DataKeyRecord.__table__), backup["data_keys"])

    with db.sessions.begin() as session:
        report = reapply_tombstones(
            session, db, principal=DPO, reason="restore drill", snapshot=snapshot
        )
    assert report.customers_erased == 1
    assert report.keys_destroyed == 1
    assert report.register_rows_restored >= 3
    with db.sessions() as session:
        assert set(session.scalars(select(Customer.id))) == {other}
        assert session.scalar(select(func.count()).select_from(ErasureTombstone)) >= 2
    assert db.keystore.keys_for([customer_id]) == {}
    # Re-applying again finds nothing more to do.
    with db.sessions.begin() as session:
        assert reapply_tombstones(session, db, principal=DPO, reason="again").customers_erased == 0


def test_the_worker_runs_the_purge_on_its_timer(db: Store) -> None:
    prepare(db)
    [customer_id] = make_customers(db, person(1))
    with db.sessions.begin() as session:
        session.execute(
            insert(CustomerIdentity).values(
                customer_id=customer_id, kind="user_id", value_index=db.index("user_id", "w")
            )
        )
    _track(db, "w", utcnow() - timedelta(days=800), "ancient")
    worker = Worker(
        db,
        Settings(retention=RetentionSettings(holder_months={"ingest.events": 24})),
        consumers=CONSUMERS,
        jobs=JOBS,
        poll_seconds=0.05,
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with db.sessions() as session:
                if not session.scalar(select(func.count()).select_from(Event)):
                    break
            time.sleep(0.05)
    finally:
        worker.stop()
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        assert (
            session.scalar(
                select(func.count()).where(AuditEntry.action == "privacy.retention.purged")
            )
            == 1
        )

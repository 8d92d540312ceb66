"""A backup taken while tracking calls keep coming and consumers keep reading is one
consistent state: no event without its customer, no cursor past the restored events."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from sqlalchemy import func, select

from clientvault.backup.create import create_backup
from clientvault.backup.restore import restore
from clientvault.domains import CONSUMERS
from clientvault.identity.models import Customer
from clientvault.ingest.consumers import process_batch
from clientvault.ingest.models import ConsumerCursor, Event
from clientvault.ingest.tracking import ingest
from clientvault.privacy.erasure import tombstone_snapshot
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.backups import engine_of, fresh_database
from support.privacy_core import DPO, prepare


def _load(store: Store, stop: threading.Event, sent: list[int]) -> None:
    """Post tracking calls, each from a new user (a new customer), until told to stop."""
    while not stop.is_set():
        user = uuid.uuid4().hex
        calls = [
            {"type": "track", "userId": user, "event": "Viewed", "messageId": f"{user}-{n}"}
            for n in range(3)
        ]
        with store.sessions.begin() as session:
            ingest(session, store, source="load", messages=calls, default_region="FR")
        sent.append(len(calls))


def _consume(store: Store, stop: threading.Event, moved: threading.Event) -> None:
    """Run the event-log consumers in small batches; ``moved`` once they have read some."""
    while not stop.wait(0.02):
        read = sum(process_batch(store, consumer, batch_size=50) for consumer in CONSUMERS)
        if read:
            moved.set()


def test_a_backup_under_load_restores_to_a_consistent_state(
    db: Store, bk_settings: Settings, tmp_path: Path
) -> None:
    prepare(db)
    stop, moved = threading.Event(), threading.Event()
    sent: list[int] = []
    workers = [
        threading.Thread(target=_load, args=(db, stop, sent)),
        threading.Thread(target=_consume, args=(db, stop, moved)),
    ]
    for worker in workers:
        worker.start()
    try:
        # The load is under way, and the consumers reading, before the backup starts.
        while len(sent) < 10 or not moved.is_set():
            stop.wait(0.05)
        result = create_backup(bk_settings, "data")
        backed_up_during = len(sent)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert len(sent) > 10
    assert result.manifest["tables"]["events"] >= 10 * 3
    with db.read_sessions() as session:
        register = tombstone_snapshot(session)
    with fresh_database(bk_settings, tmp_path) as url:
        restore(bk_settings, target_url=url, tombstones=register, principal=DPO)
        engine = engine_of(url)
        try:
            with engine.connect() as connection:
                orphans = connection.scalar(
                    select(func.count())
                    .select_from(Event)
                    .where(Event.customer_id.is_not(None))
                    .where(Event.customer_id.not_in(select(Customer.id)))
                )
                newest = connection.scalar(select(func.max(Event.id))) or 0
                cursors = dict(
                    (name, position)
                    for name, position in connection.execute(
                        select(ConsumerCursor.name, ConsumerCursor.position)
                    )
                )
                events = connection.scalar(select(func.count()).select_from(Event))
        finally:
            engine.dispose()
    assert orphans == 0
    assert cursors
    assert all(position <= newest for position in cursors.values()), (cursors, newest)
    assert events == result.manifest["tables"]["events"]
    assert events <= backed_up_during * 3

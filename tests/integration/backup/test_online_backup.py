"""A backup taken while a load generator posts tracking calls to the tracking API and the
consumers keep reading is one consistent state: no event without its customer, no cursor
past the restored events."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clientvault.app import create_app
from clientvault.backup.create import create_backup
from clientvault.backup.restore import restore
from clientvault.domains import CONSUMERS
from clientvault.identity.models import Customer
from clientvault.ingest.consumers import process_batch
from clientvault.ingest.models import ConsumerCursor, Event
from clientvault.ingest.sources import create_source
from clientvault.privacy.erasure import tombstone_snapshot
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.backups import engine_of, fresh_database
from support.privacy_core import DPO, prepare


def _load(
    client: TestClient, key: str, stop: threading.Event, sent: list[int], refused: list[str]
) -> None:
    """Post batches of tracking calls to ``/v1/batch``, each from a new user (a new
    customer), until told to stop; an answer other than 200 ends it, kept in ``refused``."""
    while not stop.is_set():
        user = uuid.uuid4().hex
        calls = [
            {"type": "track", "userId": user, "event": "Viewed", "messageId": f"{user}-{n}"}
            for n in range(3)
        ]
        answer = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
        if answer.status_code != 200:
            refused.append(answer.text)
            return
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
    with db.sessions.begin() as session:
        key = create_source(session, name="load").write_key
    stop, moved = threading.Event(), threading.Event()
    sent: list[int] = []
    refused: list[str] = []
    client = TestClient(create_app(bk_settings, store=db), base_url="https://testserver")
    workers = [
        threading.Thread(target=_load, args=(client, key, stop, sent, refused)),
        threading.Thread(target=_consume, args=(db, stop, moved)),
    ]
    with client:
        for worker in workers:
            worker.start()
        try:
            # The load is under way, and the consumers reading, before the backup starts.
            deadline = time.monotonic() + 60
            while (len(sent) < 10 or not moved.is_set()) and time.monotonic() < deadline:
                stop.wait(0.05)
            result = create_backup(bk_settings, "data")
            backed_up_during = len(sent)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
    assert refused == []
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

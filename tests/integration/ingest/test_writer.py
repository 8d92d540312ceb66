"""The ingest writer process: calls stored and answered only once committed, one failing call
never undoing another, a writer that dies failing its waiting calls and being replaced."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from clientvault.errors import Unavailable
from clientvault.identity.models import CustomerIdentity
from clientvault.ingest.event_log import EVENT_LOG_LOCK
from clientvault.ingest.models import Event
from clientvault.ingest.tracking import PreparedBatch, prepare_batch
from clientvault.ingest.writer import IngestWriter
from clientvault.privacy.consent import current_consents
from clientvault.settings import Settings
from clientvault.store.context import Store


def _track(tag: str, number: int) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"{tag}-{number}",
        "userId": f"user-{number % 7}",
        "event": "Product Viewed",
        "properties": {"sku": f"sku-{number}"},
    }


def _batch(db: Store, tag: str, count: int) -> PreparedBatch:
    return prepare_batch(
        db,
        source="test",
        messages=[_track(tag, n) for n in range(count)],
        default_region="FR",
    )


def _events(db: Store) -> int:
    with db.read_sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)


@pytest.fixture
def writer(db_settings: Settings) -> Iterator[IngestWriter]:
    started = IngestWriter(db_settings)
    started.start()
    yield started
    started.close()


@contextmanager
def _event_log_held(db: Store) -> Iterator[None]:
    """Hold what storing a call must take first: SQLite's write lock, PostgreSQL's event-log
    lock."""
    with db.sessions() as session, session.begin():
        connection = session.connection()  # BEGIN IMMEDIATE on SQLite
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({EVENT_LOG_LOCK})")
        yield


def test_concurrent_calls_are_each_answered_once_stored(db: Store, writer: IngestWriter) -> None:
    batches = [_batch(db, f"call{n}", 20) for n in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda b: writer.store(b, gpc_policy_version=None), batches))
    assert [r.accepted for r in results] == [20] * 12
    assert _events(db) == 240
    with db.read_sessions() as session:  # stitched: seven users, one customer each
        customers = session.scalars(
            select(func.count(func.distinct(CustomerIdentity.customer_id))).where(
                CustomerIdentity.kind == "user_id"
            )
        ).one()
    assert customers == 7
    again = writer.store(_batch(db, "call3", 20), gpc_policy_version=None)
    assert (again.accepted, again.duplicates) == (0, 20)
    assert _events(db) == 240


def test_calls_awaited_on_an_event_loop_hold_no_thread_and_land(
    db: Store, writer: IngestWriter
) -> None:
    # How the server stores calls: sent from its event loop, each answer awaited.
    async def send_all() -> list[int]:
        calls = [
            writer.store_async(_batch(db, f"loop{n}", 10), gpc_policy_version=None)
            for n in range(8)
        ]
        threads = threading.active_count()
        results = await asyncio.gather(*calls)
        assert threading.active_count() == threads  # no thread parked per call
        return [result.accepted for result in results]

    assert asyncio.run(send_all()) == [10] * 8
    assert _events(db) == 80


def test_a_call_that_fails_gets_its_error_and_the_others_land(
    db: Store, writer: IngestWriter
) -> None:
    broken = _batch(db, "broken", 3)
    broken.items[1].row[1] = None  # the event's type: NOT NULL
    good = [_batch(db, f"good{n}", 5) for n in range(4)]
    outcomes: dict[str, object] = {}

    def call(name: str, batch: PreparedBatch) -> None:
        try:
            outcomes[name] = writer.store(batch, gpc_policy_version=None).accepted
        except IntegrityError as exc:
            outcomes[name] = exc

    # Sent while the writer cannot store yet, so that they are stored as one group.
    with _event_log_held(db):
        threads = [threading.Thread(target=call, args=("broken", broken))] + [
            threading.Thread(target=call, args=(f"good{n}", b)) for n, b in enumerate(good)
        ]
        for thread in threads:
            thread.start()
        _wait_for(lambda: writer.waiting() == 5)
    for thread in threads:
        thread.join()
    assert isinstance(outcomes.pop("broken"), IntegrityError)
    assert outcomes == {f"good{n}": 5 for n in range(4)}
    assert _events(db) == 20


def test_gpc_opt_out_is_recorded_by_the_writer(db: Store, writer: IngestWriter) -> None:
    writer.store(_batch(db, "gpc", 1), gpc_policy_version="2026-01")
    with db.read_sessions() as session:
        customer_id = session.scalar(select(Event.customer_id))
        assert customer_id is not None
        assert not current_consents(session, customer_id=customer_id)["sale_share"].granted


def test_a_writer_that_dies_fails_its_waiting_calls_and_is_replaced(
    db: Store, writer: IngestWriter
) -> None:
    first = writer.process_id
    assert first is not None
    outcome: list[object] = []
    with _event_log_held(db):
        thread = threading.Thread(
            target=lambda: outcome.append(_stored_or_error(writer, _batch(db, "lost", 2)))
        )
        thread.start()
        _wait_for(lambda: writer.waiting() == 1)
        os.kill(first, signal.SIGKILL)
        thread.join(20)
    assert len(outcome) == 1
    assert isinstance(outcome[0], Unavailable)
    assert outcome[0].code == "ingest_unavailable"
    assert _events(db) == 0  # never committed, never acknowledged
    assert writer.store(_batch(db, "lost", 2), gpc_policy_version=None).accepted == 2
    assert writer.process_id not in (None, first)


def test_a_writer_started_from_the_event_loop_does_not_stall_it(
    db: Store, writer: IngestWriter
) -> None:
    first = writer.process_id
    assert first is not None
    os.kill(first, signal.SIGKILL)
    _wait_for(lambda: writer.process_id is None)

    async def store_while_ticking() -> tuple[int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        result = await writer.store_async(_batch(db, "restart", 3), gpc_policy_version=None)
        elapsed = time.monotonic() - started
        ticker.cancel()
        # The loop kept running while a new writer started (spawned, store opened).
        assert ticks >= elapsed / 0.01 / 4
        return result.accepted, ticks

    accepted, ticks = asyncio.run(store_while_ticking())
    assert accepted == 3
    assert ticks > 5
    assert writer.process_id not in (None, first)


def _stored_or_error(writer: IngestWriter, batch: PreparedBatch) -> object:
    try:
        return writer.store(batch, gpc_policy_version=None)
    except Unavailable as exc:
        return exc


def test_close_stops_the_writer_process(db_settings: Settings) -> None:
    writer = IngestWriter(db_settings)
    writer.start()
    pid = writer.process_id
    assert pid is not None
    writer.close()
    assert writer.process_id is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_writer_that_cannot_open_the_store_fails_at_start(
    db_settings: Settings, tmp_path: Any
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    writer = IngestWriter(db_settings.model_copy(update={"data_dir": empty}))
    with pytest.raises(Unavailable, match="could not open the store"):
        writer.start()

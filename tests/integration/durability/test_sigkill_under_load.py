"""Zero acknowledged events lost, zero duplicates, when the server is SIGKILLed under load.

A real ``clientvault serve`` process takes ``/v1/batch`` calls from a few concurrent clients,
each batch with its own messageIds. At seeded random moments the server is killed with
SIGKILL (no shutdown, nothing flushed) and restarted on the same databases. A batch whose
call failed (connection reset, refused while the server is down) is sent again, unchanged,
until it is acknowledged: idempotency on ``messageId`` must absorb the batches that were
committed but whose answer was lost in the crash. At the end every acknowledged messageId is
in the events table exactly once, and nothing else is.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx2
from sqlalchemy import func, select

from clientvault.ingest.models import Event
from clientvault.store.context import Store

SEED = 20_260_529
KILLS = 3
SENDERS = 3
BATCH_SIZE = 25
#: How long the server runs under load before each kill (seconds, drawn from the seed).
UPTIME_S = (0.3, 1.0)
#: After the last restart: keep loading, then stop creating batches and drain the resends.
FINAL_UPTIME_S = 0.5
DRAIN_TIMEOUT_S = 20.0


@dataclass
class Ledger:
    """What the clients sent and what the server acknowledged, shared by the sender threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    next_batch: int = 0
    pending: list[list[dict[str, Any]]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    generated: set[str] = field(default_factory=set)
    in_flight: int = 0
    failed_calls: int = 0
    duplicates_on_resend: int = 0
    unexpected: list[str] = field(default_factory=list)

    def take(self, *, new_allowed: bool) -> list[dict[str, Any]] | None:
        """A batch to send: an unacknowledged one first, else (if allowed) a new one."""
        with self.lock:
            if self.pending:
                return self.pending.pop(0)
            if not new_allowed:
                return None
            number = self.next_batch
            self.next_batch += 1
        batch = [_event(number, i) for i in range(BATCH_SIZE)]
        with self.lock:
            self.generated.update(e["messageId"] for e in batch)
        return batch


def _event(batch: int, index: int) -> dict[str, Any]:
    """A Segment-shaped track event; one user in 40 so customers are created under load too."""
    return {
        "type": "track",
        "messageId": f"dur-{batch:06d}-{index:03d}",
        "userId": f"dur-user-{(batch * BATCH_SIZE + index) % 40}",
        "event": "Product Viewed",
        "properties": {"sku": f"SKU-{index:03d}", "price": 19.9, "currency": "EUR"},
        "timestamp": "2026-05-29T10:00:00Z",
    }


def _sender(
    url: str, write_key: str, ledger: Ledger, up: threading.Event, stop: threading.Event
) -> None:
    with httpx2.Client(base_url=url, auth=(write_key, ""), timeout=10.0) as client:
        while True:
            batch = ledger.take(new_allowed=not stop.is_set())
            if batch is None:
                return
            if not up.wait(timeout=DRAIN_TIMEOUT_S):
                with ledger.lock:
                    ledger.pending.append(batch)
                return
            with ledger.lock:
                ledger.in_flight += 1
            try:
                response = client.post("/v1/batch", json={"batch": batch})
            except httpx2.TransportError:
                with ledger.lock:
                    ledger.failed_calls += 1
                    ledger.pending.append(batch)  # not acknowledged: send it again, unchanged
                time.sleep(0.02)
                continue
            finally:
                with ledger.lock:
                    ledger.in_flight -= 1
            body = response.json()
            with ledger.lock:
                answered = body.get("accepted", 0) + body.get("duplicates", 0)
                if response.status_code != 200 or answered != len(batch):
                    ledger.unexpected.append(f"{response.status_code}: {body}")
                    continue
                ledger.acknowledged.extend(e["messageId"] for e in batch)
                ledger.duplicates_on_resend += body["duplicates"]


def test_sigkill_under_load_loses_no_acknowledged_event_and_duplicates_none(
    crash_server: Any, db: Store
) -> None:
    rng = random.Random(SEED)
    ledger = Ledger()
    up, stop = threading.Event(), threading.Event()
    senders = [
        threading.Thread(
            target=_sender,
            args=(crash_server.url, crash_server.write_key, ledger, up, stop),
            daemon=True,
        )
        for _ in range(SENDERS)
    ]
    crash_server.start()
    up.set()
    for sender in senders:
        sender.start()
    in_flight_at_kills = []
    for _ in range(KILLS):
        time.sleep(rng.uniform(*UPTIME_S))
        with ledger.lock:
            in_flight_at_kills.append(ledger.in_flight)
        crash_server.kill()
        up.clear()
        crash_server.start()
        up.set()
    time.sleep(FINAL_UPTIME_S)
    stop.set()  # no new batches: the senders drain the unacknowledged ones and return
    for sender in senders:
        sender.join(timeout=DRAIN_TIMEOUT_S)
    assert not any(s.is_alive() for s in senders), "the clients did not drain in time"
    crash_server.stop()
    print(  # shown on failure, or with -s
        f"{len(ledger.generated)} events in {ledger.next_batch} batches, {KILLS} kills "
        f"(calls in flight at each: {in_flight_at_kills}), {ledger.failed_calls} failed calls, "
        f"{ledger.duplicates_on_resend} events committed before a crash hid their answer"
    )

    assert ledger.unexpected == []
    assert ledger.pending == [], "some batches were never acknowledged"
    assert sum(in_flight_at_kills) > 0, "no kill happened while a call was in flight"
    assert ledger.failed_calls > 0
    acknowledged = Counter(ledger.acknowledged)
    assert set(acknowledged) == ledger.generated
    assert max(acknowledged.values()) == 1

    with db.sessions() as session:
        stored = Counter(
            session.scalars(select(Event.message_id).where(Event.source == crash_server.source))
        )
        events = session.scalar(select(func.count()).select_from(Event))
    lost = set(acknowledged) - set(stored)
    duplicated = {m: n for m, n in stored.items() if n > 1}
    assert not lost, f"{len(lost)} acknowledged events lost"
    assert not duplicated, f"{len(duplicated)} messageIds stored more than once"
    assert set(stored) == set(acknowledged), "events stored that nobody sent"
    assert events == len(acknowledged)

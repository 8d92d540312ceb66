"""HTTP batch ingestion through the real server vs a raw insert of the same rows, same run.

Ours: ``clientvault serve`` (one uvicorn process, as shipped: it prepares calls on its event
loop and stores them through its ingest writer process) receives ``POST /v1/batch``
calls of 100 Segment-shaped track events (~200 B of properties each, users from a pool
whose customers exist after the warm-up) from a load generator in another process, over
several keep-alive connections. Time runs from the first request to the last answer, and a
200 means committed. Baseline: the very rows the server stored in that round, read back and
inserted again (new message ids) into the same database by one ``executemany`` in one
transaction on SQLite, one ``COPY`` on PostgreSQL. Both sides stream into the same, warm
table, round after round; medians of 3 rounds after a warm-up. Target: ours >= 0.25 x raw.

A second baseline puts that one figure in context: the same raw insert committed every
``connections x 100`` rows — the largest commit the server can make, since a call is answered
only once committed and there are that many calls in flight at most. On SQLite most of the
gap between the two is the per-customer index: each commit rewrites (in the WAL, then in the
database at the checkpoint) about one index page per event whose customer it has not met yet
in that commit, where one big transaction rewrites each page once.

Also reported: the single-event endpoint (``POST /v1/track``), as requests/s against the same
raw rate of rows.

The server's in-process event-log consumers are off by default here, so the figure is the
tracking API's own; ``--consumers`` keeps them on (``serve``'s default) and then waits for
them to catch up before each measurement, so neither side runs against their backlog. On
PostgreSQL the events table is ANALYZEd after the warm-up, as autovacuum would.

Usage: ``python bench/bench_ingest.py [--backend sqlite|postgresql] [--events N]
[--singles N] [--connections N] [--consumers]`` (PostgreSQL when CLIENTVAULT_BENCH_PG_URL or
CLIENTVAULT_TEST_PG_URL is set).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).parent))

from _common import backends, blank_settings, report
from clientvault.ingest.models import ConsumerCursor, Event
from clientvault.ingest.sources import create_source
from clientvault.migrations.install import initialise
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store

BATCH = 100
USERS = 1_000
ROUNDS = 3
CLIENTVAULT = Path(sys.executable).parent / "clientvault"
#: The events table's columns but its key, in the order the baseline inserts them.
COLUMNS = [c.name for c in Event.__table__.columns if c.name != "id"]


# ---- the events -------------------------------------------------------------------------------


def track_event(tag: str, number: int) -> dict[str, Any]:
    """One Segment-shaped track call with ~200 bytes of properties (synthetic values)."""
    return {
        "type": "track",
        "messageId": f"{tag}-{number:08d}",
        "userId": f"bench-user-{number % USERS:05d}",
        "event": "Product Added",
        "timestamp": "2026-05-29T10:00:00.000Z",
        "properties": {
            "product_id": f"sku-{number % 5000:05d}",
            "name": "Organic cotton t-shirt",
            "category": "Apparel / T-shirts",
            "brand": "Example Basics",
            "variant": "navy, size M",
            "price": 19.9,
            "quantity": 1 + number % 3,
            "currency": "EUR",
            "position": number % 24,
            "cart_id": f"cart-{number % 997:04d}",
        },
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
    }


# ---- the load generator (its own process) ------------------------------------------------------


def _load_generator(conn: Connection, url: str, write_key: str, connections: int) -> None:
    """Serve requests for rounds of load: ``(path, bodies_spec)`` in, ``(seconds, n)`` out.

    Plain ``http.client`` keep-alive connections: the generator shares the machine's two
    cores with the server and its writer, and an HTTP client library's own work per request
    (~1 ms of CPU with httpx) was CPU the server under test could not use."""
    local = threading.local()
    address = urlsplit(url)
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
        "Content-Type": "application/json",
    }

    def send(path: str, body: bytes) -> int:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(
                address.hostname, address.port, timeout=120.0
            )
        local.connection.request("POST", path, body=body, headers=headers)
        response = local.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {answer[:300]!r}")
        return int(orjson.loads(answer)["accepted"])

    with ThreadPoolExecutor(max_workers=connections) as pool:
        while (command := conn.recv()) is not None:
            path, tag, calls, per_call = command
            if per_call == 1:
                bodies = [orjson.dumps(track_event(tag, n)) for n in range(calls)]
            else:
                bodies = [
                    orjson.dumps(
                        {"batch": [track_event(tag, c * per_call + i) for i in range(per_call)]}
                    )
                    for c in range(calls)
                ]
            start = time.perf_counter()
            accepted = sum(pool.map(send, [path] * len(bodies), bodies))
            conn.send((time.perf_counter() - start, accepted))


@contextmanager
def load_generator(url: str, write_key: str, connections: int) -> Iterator[Connection]:
    """The load generator process, fed through a pipe."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_load_generator, args=(theirs, url, write_key, connections), daemon=True
    )
    process.start()
    try:
        yield ours
    finally:
        ours.send(None)
        process.join(timeout=30)


def run_load(pipe: Connection, *, path: str, tag: str, calls: int, per_call: int) -> float:
    """Send ``calls`` requests of ``per_call`` events; the seconds they took, all answered."""
    pipe.send((path, tag, calls, per_call))
    seconds, accepted = pipe.recv()
    if accepted != calls * per_call:
        raise RuntimeError(f"{accepted} events accepted of {calls * per_call}")
    return float(seconds)


# ---- the server (its own process) ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(settings: Settings, log: Path, *, consumers: bool) -> Iterator[str]:
    """``clientvault serve`` on a loopback port, answered on /healthz; its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTVAULT_")}
    env["CLIENTVAULT_ENV"] = "test"
    env["CLIENTVAULT_SERVER__RUN_CONSUMERS"] = "true" if consumers else "false"
    if settings.database.url:
        env["CLIENTVAULT_DATABASE__URL"] = settings.database.url
    if settings.keystore.url:
        env["CLIENTVAULT_KEYSTORE__URL"] = settings.keystore.url
    command = [str(CLIENTVAULT), "serve", "--data-dir", str(settings.data_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()}")
            try:
                if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- installations and the raw baseline ---------------------------------------------------------


@contextmanager
def installation(backend: str) -> Iterator[Settings]:
    """Settings of a new, migrated installation on ``backend``, deleted afterwards."""
    with blank_settings(backend, tmp_prefix="cv-bench-ingest-") as settings:
        initialise(settings).close()
        yield settings


def stored_rows(store: Store, tag: str) -> list[tuple[Any, ...]]:
    """The rows the server stored for one round, as the database holds them (raw values)."""
    backend = store.engine.dialect.name
    marker = "?" if backend == "sqlite" else "%s"
    columns = ", ".join(
        f"{c}::text" if backend == "postgresql" and c in ("properties", "context") else c
        for c in COLUMNS
    )
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            f"SELECT {columns} FROM events WHERE message_id LIKE {marker} ORDER BY id",
            (f"{tag}-%",),
        )
        rows = [tuple(row) for row in cursor.fetchall()]
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return rows


def raw_insert(
    store: Store, *, per_commit: int | None = None
) -> Callable[[list[tuple[Any, ...]]], None]:
    """The fastest plain way to add rows: executemany in one transaction / COPY; with
    ``per_commit``, one transaction (and one durable commit) per that many rows."""
    placeholders = ", ".join("?" for _ in COLUMNS)
    names = ", ".join(COLUMNS)

    def sqlite(rows: list[tuple[Any, ...]]) -> None:
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for part in _parts(rows, per_commit):
                cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany(f"INSERT INTO events ({names}) VALUES ({placeholders})", part)
                cursor.execute("COMMIT")
            cursor.close()
        finally:
            raw.close()

    def postgresql(rows: list[tuple[Any, ...]]) -> None:
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for part in _parts(rows, per_commit):
                with cursor.copy(f"COPY events ({names}) FROM STDIN") as copy:
                    for row in part:
                        copy.write_row(row)
                raw.commit()
            cursor.close()
        finally:
            raw.close()

    return sqlite if store.engine.dialect.name == "sqlite" else postgresql


def _parts(rows: list[tuple[Any, ...]], size: int | None) -> Iterator[list[tuple[Any, ...]]]:
    step = size or len(rows) or 1
    for start in range(0, len(rows), step):
        yield rows[start : start + step]


def rekeyed(rows: list[tuple[Any, ...]], tag: str) -> list[tuple[Any, ...]]:
    """The same rows under new, unique message ids."""
    position = COLUMNS.index("message_id")
    return [(*row[:position], f"{tag}-{n:08d}", *row[position + 1 :]) for n, row in enumerate(rows)]


# ---- the benchmark ------------------------------------------------------------------------------


def consumers_caught_up(store: Store, *, timeout: float = 900.0) -> None:
    """Wait until every event-log consumer has read the whole log (the server is quiet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.sessions() as session:
            last = session.scalar(select(func.max(Event.id))) or 0
            positions = list(session.scalars(select(ConsumerCursor.position)))
        if positions and min(positions) >= last:
            return
        time.sleep(0.2)
    raise RuntimeError("the server's consumers did not catch up with the log")


def run(backend: str, *, events: int, singles: int, connections: int, consumers: bool) -> None:
    """Measure ours and the raw baseline on one backend and print the ratios."""
    calls = events // BATCH
    quiet = (lambda: consumers_caught_up(store)) if consumers else (lambda: None)
    with installation(backend) as settings:
        store = open_store(settings)
        with store.sessions.begin() as session:
            write_key = create_source(session, name="bench").write_key
        insert = raw_insert(store)
        # The most events the server can commit at once: one call per connection in a group.
        insert_per_commit = raw_insert(store, per_commit=connections * BATCH)
        with (
            server(settings, settings.data_dir / "server.log", consumers=consumers) as url,
            load_generator(url, write_key, connections) as pipe,
        ):
            # Warm-up: every user's customer exists, caches and connections are warm.
            warm = max(USERS // BATCH * 2, calls // 4)
            run_load(pipe, path="/v1/batch", tag="warmbatch", calls=warm, per_call=BATCH)
            rows = rekeyed(stored_rows(store, "warmbatch")[:events], "warmraw")
            quiet()
            insert(rows)
            run_load(pipe, path="/v1/track", tag="warmsingle", calls=singles // 4, per_call=1)
            expected = warm * BATCH + len(rows) + singles // 4
            if backend == "postgresql":
                # What autovacuum does once a table has grown (it may be off on a test
                # server): without statistics, plans cached on the server's connections
                # while the table was empty keep scanning it whole as it grows.
                with store.engine.begin() as connection:
                    connection.execute(text("ANALYZE events"))

            ours, baseline, per_commit, single = [], [], [], []
            for round_ in range(ROUNDS):
                quiet()
                seconds = run_load(
                    pipe, path="/v1/batch", tag=f"batch{round_}", calls=calls, per_call=BATCH
                )
                ours.append(calls * BATCH / seconds)
                rows = rekeyed(stored_rows(store, f"batch{round_}"), f"raw{round_}")
                quiet()
                start = time.perf_counter()
                insert(rows)
                baseline.append(len(rows) / (time.perf_counter() - start))
                rows = rekeyed(rows, f"rawc{round_}")
                quiet()
                start = time.perf_counter()
                insert_per_commit(rows)
                per_commit.append(len(rows) / (time.perf_counter() - start))
                quiet()
                seconds = run_load(
                    pipe, path="/v1/track", tag=f"single{round_}", calls=singles, per_call=1
                )
                single.append(singles / seconds)
                expected += calls * BATCH + 2 * len(rows) + singles
        with store.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Event))
            duplicates = session.scalar(
                select(func.count()).select_from(
                    select(Event.message_id)
                    .group_by(Event.message_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
        store.close()
    if stored != expected or duplicates:
        raise RuntimeError(f"{stored} events stored, {expected} expected, {duplicates} dups")
    raw_rate = statistics.median(baseline)
    suffix = "+consumers" if consumers else ""
    report(
        f"ingest_batch{suffix}[{backend}]",
        ours=statistics.median(ours),
        baseline=raw_rate,
        unit="events/s",
    )
    report(
        f"ingest_batch_vs_raw_per_{connections * BATCH}_row_commits{suffix}[{backend}]",
        ours=statistics.median(ours),
        baseline=statistics.median(per_commit),
        unit="events/s",
    )
    report(
        f"ingest_single{suffix}[{backend}]",
        ours=statistics.median(single),
        baseline=raw_rate,
        unit="requests/s vs raw rows/s",
    )


def main() -> None:
    """Parse options and run on every available backend."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events per batch round")
    parser.add_argument("--singles", type=int, default=1_000, help="requests per single round")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument(
        "--consumers",
        action="store_true",
        help="keep the server's in-process event-log consumers on (`serve`'s default)",
    )
    args = parser.parse_args()
    for backend in [args.backend] if args.backend else backends():
        run(
            backend,
            events=args.events,
            singles=args.singles,
            connections=args.connections,
            consumers=args.consumers,
        )


if __name__ == "__main__":
    main()

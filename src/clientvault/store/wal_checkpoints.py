"""Checkpointing a SQLite write-ahead log from a thread of its own, not from commits.

By default SQLite checkpoints when a commit finds the WAL past 1,000 pages: that commit then
copies the log into the database file and syncs it before it returns. For the ingest writer
(``ingest.writer``), whose commits are the serial path every tracking call waits on, that
was ~11 % of its time and its slowest commits (profiled under ``bench/bench_ingest.py``); for
an incremental identity match it was 15-50 ms in 1-2 % of the commits against 100k demo
profiles, all of its p99 (``bench/bench_identity.py``). So every store's connections keep
their automatic checkpoint only as a bound far above that (``FALLBACK_PAGES``, never reached
while the thread keeps up) and this thread checkpoints instead, next to the commits.

Each round is a PASSIVE checkpoint, which never blocks a writer or a reader; committed data is
as durable before it (in the WAL) as after. A PASSIVE checkpoint never lets the log start over,
though: SQLite restarts the WAL only when a writer begins after every frame was copied, which
writers committing one transaction right after the other never leave room for (against 1M
profiles the log then only grew). So once the log has reached ``RESET_PAGES``, the round ends
with a FULL checkpoint: it takes the write lock (waiting at most ``RESET_WAIT_MS`` for it, and
for readers of older snapshots, before settling for what it could copy), copies only the frames
committed since the PASSIVE one, syncs, and the next writer starts the log over. Writers wait
for that short tail, not for the whole copy.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

logger = logging.getLogger(__name__)

#: Seconds between checkpoints: the WAL grows by at most what is committed in that time.
INTERVAL_S = 0.05
#: Log size, in pages, from which a round ends with a FULL checkpoint so the log starts over
#: (one writer waits for its tail per this many pages written; 16 MB of WAL).
RESET_PAGES = 4_000
#: How long, in milliseconds, that FULL checkpoint waits for the write lock or for a reader.
RESET_WAIT_MS = 10
#: The connections' own automatic checkpoint threshold, in pages (40 MB of WAL).
FALLBACK_PAGES = 10_000
#: One checkpoint at a time in this process: a background round must not make an erasure's
#: TRUNCATE checkpoint find the log busy (another process's checkpoint still can).
_LOCK = threading.Lock()


def with_fallback_checkpoints_only(engine: Engine) -> None:
    """Make ``engine``'s new SQLite connections leave checkpoints to a ``WalCheckpointer``,
    their own automatic one kept only as a bound on the log should the thread fall behind
    (``FALLBACK_PAGES``, never reached while it keeps up)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")


def truncate_wal(engine: Engine) -> bool:
    """Copy every frame of a SQLite WAL into the database and empty the file, now (erasure
    scrubs it so no page image of an erased row lingers). ``False`` when a reader or another
    process's checkpoint was in the way."""
    with _checkpointing(engine) as cursor:
        busy, frames, done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy and frames == done


class WalCheckpointer:
    """A daemon thread checkpointing a SQLite database's WAL every ``interval`` seconds,
    letting the log start over once it has reached ``reset_pages``."""

    def __init__(
        self, engine: Engine, *, interval: float = INTERVAL_S, reset_pages: int = RESET_PAGES
    ) -> None:
        # Held weakly: a store dropped without ``close`` ends its thread too.
        self._engine = weakref.ref(engine)
        self._interval = interval
        self._reset_pages = reset_pages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)

    def start(self) -> None:
        """Start checkpointing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint in progress, with a last one so the WAL is left short."""
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join()

    def checkpoint(self) -> tuple[int, int]:
        """One round now: (frames in the WAL, frames checkpointed)."""
        engine = self._engine()
        if engine is None:
            return 0, 0
        with _checkpointing(engine) as cursor:
            _, frames, done = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames >= self._reset_pages:
                waits = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
                cursor.execute(f"PRAGMA busy_timeout={RESET_WAIT_MS}")
                try:
                    _, frames, done = cursor.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
                finally:
                    cursor.execute(f"PRAGMA busy_timeout={waits}")
        return int(frames), int(done)

    def _run(self) -> None:
        while not self._stop.wait(self._interval) and self._engine() is not None:
            self._checkpoint_logged()
        self._checkpoint_logged()

    def _checkpoint_logged(self) -> None:
        try:
            self.checkpoint()
        except Exception as exc:  # the next round retries; commits stay durable regardless
            logger.warning("WAL checkpoint failed: %s", type(exc).__name__)


@contextmanager
def _checkpointing(engine: Engine) -> Iterator[Any]:
    """A cursor on one of the engine's connections, holding this process's checkpoint lock."""
    with _LOCK:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            yield cursor
            cursor.close()
        finally:
            raw.close()

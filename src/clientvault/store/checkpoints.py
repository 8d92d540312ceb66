"""SQLite's write-ahead log copied back into the database in the background, off the request path.

By default SQLite checkpoints inside whichever commit takes the WAL past 1,000 pages: that
commit waits while the pages are written into the database file and the file is synced. Against
100k demo profiles that was 15-50 ms in 1-2% of an incremental identity match's commits, all of
its p99 (a checkpoint-free match took under 10 ms). As SQLite's documentation suggests for
latency-sensitive applications, the store leaves checkpoints to a thread of its own.

Every ``CHECKPOINT_INTERVAL`` seconds the thread runs PASSIVE checkpoints, which wait for no
reader or writer: the bulk of the copying and syncing happens while they keep working. A PASSIVE
checkpoint never lets the log start over, though: SQLite restarts the WAL only when a writer
begins after every frame was copied, which a busy writer (one transaction after the other)
never leaves room for. So once the log has reached ``RESET_PAGES``, the round ends with a FULL
checkpoint: it takes the write lock (waiting at most ``RESET_WAIT_MS`` for it, and for readers
of older snapshots), copies only the few frames written since the PASSIVE pass, syncs, and the
next writer starts the log over. Writers wait for that short tail, not for the whole copy.

The connections' automatic checkpoint stays as a safety net at ``FALLBACK_PAGES``: should the
thread fall behind, a commit checkpoints as before, so the log stays bounded. PostgreSQL
checkpoints in the background by itself: the thread is for SQLite only.
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

#: Seconds between background rounds.
CHECKPOINT_INTERVAL = 0.1
#: Log size, in pages, from which a round ends with a FULL checkpoint so the log starts over
#: (at most one writer waits for it per this many pages written; 16 MB of WAL).
RESET_PAGES = 4_000
#: How long, in milliseconds, that FULL checkpoint waits for the write lock or for a reader
#: before it settles for what it could copy (the next round tries again).
RESET_WAIT_MS = 10
#: The connections' own automatic checkpoint threshold, in pages: a bound on the log for when
#: the background thread falls behind, never reached while it keeps up.
FALLBACK_PAGES = 10_000
#: One checkpoint at a time in this process: the background one must not make an erasure's
#: TRUNCATE checkpoint find the log busy (another process's checkpoint still can, as before).
_LOCK = threading.Lock()


def truncate_wal(engine: Engine) -> bool:
    """Copy every frame of a SQLite database's WAL into it and empty the file, now (erasure
    scrubs it so no page image of an erased row lingers). ``False`` when a reader or another
    process's checkpoint was in the way."""
    with _checkpointing(engine) as cursor:
        busy, log_pages, copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy and log_pages == copied


class BackgroundCheckpoints:
    """Checkpoints one SQLite engine's WAL every ``interval`` seconds until ``stop``, letting
    the log start over once it has reached ``reset_pages``."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = CHECKPOINT_INTERVAL,
        reset_pages: int = RESET_PAGES,
    ) -> None:
        event.listen(engine, "connect", _raise_automatic_threshold)
        self._stopped = threading.Event()
        # The thread holds the engine weakly: a store dropped without ``close`` ends it too.
        self._thread = threading.Thread(
            target=_run,
            args=(weakref.ref(engine), interval, reset_pages, self._stopped),
            name="sqlite-wal-checkpoints",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """End the thread (after the round in progress, if any)."""
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _raise_automatic_threshold(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")


@contextmanager
def _checkpointing(engine: Engine) -> Iterator[Any]:
    """A cursor on one of the engine's connections, holding this process's checkpoint lock."""
    with _LOCK:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            yield cursor
            cursor.close()
        finally:
            connection.close()


def _run(
    engine_ref: weakref.ref[Engine], interval: float, reset_pages: int, stopped: threading.Event
) -> None:
    while not stopped.wait(interval):
        engine = engine_ref()
        if engine is None:
            return
        try:
            _round(engine, reset_pages)
        except Exception:  # the next round retries; the fallback bounds the log meanwhile
            logger.exception("background WAL checkpoint failed")
        del engine


def _round(engine: Engine, reset_pages: int) -> None:
    """Two PASSIVE checkpoints (the second copies what was written during the first), then,
    past ``reset_pages``, a FULL one that lets the log start over."""
    with _checkpointing(engine) as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        _busy, log_pages, _copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if log_pages >= reset_pages:
            waits = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
            cursor.execute(f"PRAGMA busy_timeout={RESET_WAIT_MS}")
            try:
                cursor.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
            finally:
                cursor.execute(f"PRAGMA busy_timeout={waits}")

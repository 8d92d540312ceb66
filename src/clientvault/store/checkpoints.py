"""SQLite's write-ahead log copied back into the database in the background, off the request path.

By default SQLite checkpoints inside whichever commit takes the WAL past 1,000 pages: that
commit waits while the pages are written into the database file and the file is synced. Against
100k demo profiles that was 15-50 ms in 1-2% of an incremental identity match's commits, all of
its p99 (a checkpoint-free match took under 10 ms). As SQLite's documentation suggests for
latency-sensitive applications, the store leaves checkpoints to a thread of its own: every
``CHECKPOINT_INTERVAL`` seconds it runs a PASSIVE checkpoint, which waits for no reader or writer
(they keep working while it copies). The connections' automatic checkpoint stays as a safety net
at ``FALLBACK_PAGES``: should the thread fall behind (an import writing faster than it copies),
a commit checkpoints as before, so the log stays bounded. PostgreSQL checkpoints in the
background by itself: the thread is for SQLite only.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Literal

from sqlalchemy import Engine, event

logger = logging.getLogger(__name__)

#: Seconds between background checkpoints (a quarter of a second of a busy writer is a few
#: hundred pages, about what SQLite's default threshold of 1,000 pages lets accumulate).
CHECKPOINT_INTERVAL = 0.25
#: The connections' own automatic checkpoint threshold, in pages: a bound on the log for when
#: the background thread falls behind, never reached while it keeps up.
FALLBACK_PAGES = 10_000
#: One checkpoint at a time in this process: the background one must not make an erasure's
#: TRUNCATE checkpoint find the log busy (another process's checkpoint still can, as before).
_LOCK = threading.Lock()

Mode = Literal["PASSIVE", "TRUNCATE"]


def checkpoint(engine: Engine, mode: Mode) -> bool:
    """Checkpoint a SQLite database's WAL now; returns whether it was done completely (a
    TRUNCATE one also empties the file). ``False`` when a reader or another process's
    checkpoint was in the way."""
    with _LOCK:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            busy, log_pages, copied = cursor.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            cursor.close()
        finally:
            connection.close()
    return not busy and log_pages == copied


class BackgroundCheckpoints:
    """Checkpoints one SQLite engine's WAL every ``interval`` seconds until ``stop``."""

    def __init__(self, engine: Engine, *, interval: float = CHECKPOINT_INTERVAL) -> None:
        event.listen(engine, "connect", _raise_automatic_threshold)
        self._stopped = threading.Event()
        # The thread holds the engine weakly: a store dropped without ``close`` ends it too.
        self._thread = threading.Thread(
            target=_run,
            args=(weakref.ref(engine), interval, self._stopped),
            name="sqlite-wal-checkpoints",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """End the thread (after the checkpoint in progress, if any)."""
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _raise_automatic_threshold(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")


def _run(engine_ref: weakref.ref[Engine], interval: float, stopped: threading.Event) -> None:
    while not stopped.wait(interval):
        engine = engine_ref()
        if engine is None:
            return
        try:
            checkpoint(engine, "PASSIVE")
        except Exception:  # the next round retries; the fallback bounds the log meanwhile
            logger.exception("background WAL checkpoint failed")
        del engine

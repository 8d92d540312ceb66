"""Checkpointing a SQLite write-ahead log from a thread of its own, not from commits.

By default SQLite checkpoints when a commit finds the WAL past 1,000 pages: that commit then
copies the log into the database file and syncs it before it returns. For the ingest writer
(``ingest.writer``), whose commits are the serial path every tracking call waits on, that
was ~11 % of its time and its slowest commits (profiled under ``bench/bench_ingest.py``).
Its connections turn automatic checkpoints off and this thread runs passive checkpoints
instead, next to the commits: a passive checkpoint never blocks a writer or a reader, and
committed data is as durable before it (in the synced WAL) as after.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, event

logger = logging.getLogger(__name__)

#: Seconds between checkpoints: the WAL grows by at most what is committed in that time.
INTERVAL_S = 0.05


def without_automatic_checkpoints(engine: Engine) -> None:
    """Make ``engine``'s new SQLite connections leave checkpoints to a ``WalCheckpointer``."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


class WalCheckpointer:
    """A daemon thread checkpointing a SQLite database's WAL every ``interval`` seconds."""

    def __init__(self, engine: Engine, *, interval: float = INTERVAL_S) -> None:
        self._engine = engine
        self._interval = interval
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
        """One passive checkpoint now: (frames in the WAL, frames checkpointed)."""
        raw = self._engine.raw_connection()
        try:
            _, frames, done = raw.driver_connection.execute(  # type: ignore[union-attr]
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
            return int(frames), int(done)
        finally:
            raw.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._checkpoint_logged()
        self._checkpoint_logged()

    def _checkpoint_logged(self) -> None:
        try:
            self.checkpoint()
        except Exception as exc:  # the next round retries; commits stay durable regardless
            logger.warning("WAL checkpoint failed: %s", type(exc).__name__)

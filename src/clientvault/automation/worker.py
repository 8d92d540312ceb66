"""The worker: runs every consumer of the event log and the scheduled jobs until stopped.

``clientvault worker`` runs it in the foreground; ``clientvault serve`` runs one in a
background thread by default, so the embedded installation needs no second process. Jobs run
on a timer rather than on new input (access alerts, e-mail delivery, the DSR deadline check,
the retention purge, the audit chain's checkpoints) are declared by the domains, taken
through the database's lease rows so that several workers never run one job's slot twice.
Whoever builds a worker hands it the consumers and jobs (``clientvault.domains``'s
``CONSUMERS`` and ``JOBS``): the list of domains sits above this one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from clientvault.automation.scheduler import Scheduler
from clientvault.ingest.consumers import Consumer, process_batch
from clientvault.security.alerts import detection
from clientvault.settings import SecuritySettings, Settings
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

logger = logging.getLogger(__name__)


def run_once(store: Store, consumers: Sequence[Consumer]) -> int:
    """Give every consumer one batch; returns how many events were handled."""
    return sum(process_batch(store, consumer) for consumer in consumers)


def run_until_idle(
    store: Store,
    consumers: Sequence[Consumer],
    *,
    security: SecuritySettings | None = None,
) -> int:
    """Run consumers, then the access alerts, until none has anything left to read (tests,
    demo, one-shot jobs); returns how much was handled."""
    total = 0
    while count := run_once(store, consumers):
        total += count
    return total + detection.drain(store, policy=security or SecuritySettings())


class Worker:
    """Runs the consumers and the due scheduled jobs in a loop, polling when idle."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        consumers: Sequence[Consumer],
        jobs: Sequence[ScheduledJob],
        poll_seconds: float = 0.5,
    ) -> None:
        self._store = store
        self._consumers = tuple(consumers)
        self._jobs = tuple(jobs)
        self._scheduler = Scheduler(store, settings, jobs)
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="clientvault-worker", daemon=True)

    @property
    def consumers(self) -> tuple[Consumer, ...]:
        """The event-log consumers this worker runs."""
        return self._consumers

    @property
    def jobs(self) -> tuple[ScheduledJob, ...]:
        """The scheduled jobs this worker runs when due (and enabled by the settings)."""
        return self._jobs

    def start(self) -> None:
        """Start consuming in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to finish its current batch and wait for it."""
        self._stop.set()
        self._thread.join(timeout=30)

    def run_forever(self) -> None:
        """Consume in the calling thread until ``stop`` (or Ctrl-C)."""
        self._loop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = run_once(self._store, self._consumers)
                busy += self._scheduler.run_due()
            except Exception:
                # A failing consumer must not kill the worker: log (no event content) and retry.
                logger.exception("a consumer failed; retrying after a pause")
                busy = 0
            if not busy:
                self._stop.wait(self._poll)

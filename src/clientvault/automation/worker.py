"""The worker: runs every consumer of the event log until stopped.

``clientvault worker`` runs it in the foreground; ``clientvault serve`` runs one in a
background thread by default, so the embedded installation needs no second process.
"""

from __future__ import annotations

import logging
import threading
import time

from clientvault.automation import mail, privacy_jobs
from clientvault.ingest import commerce, groups, identity_matching
from clientvault.ingest.consumers import Consumer, process_batch
from clientvault.privacy.retention import run_retention
from clientvault.security import alerts, audit_checkpoints
from clientvault.settings import (
    AuditSettings,
    PrivacySettings,
    RetentionSettings,
    SecuritySettings,
    SmtpSettings,
)
from clientvault.store.context import Store

logger = logging.getLogger(__name__)

#: Every consumer of the event log; domains add theirs here as they arrive.
CONSUMERS: tuple[Consumer, ...] = (
    commerce.CONSUMER,
    groups.CONSUMER,
    identity_matching.CONSUMER,
)


def run_once(
    store: Store,
    consumers: tuple[Consumer, ...] = CONSUMERS,
    *,
    security: SecuritySettings | None = None,
    smtp: SmtpSettings | None = None,
) -> int:
    """Give every consumer one batch, the access alerts one batch of the audit log and,
    when SMTP is enabled, the e-mail outbox one batch; returns how much was handled."""
    read = sum(process_batch(store, consumer) for consumer in consumers)
    read += alerts.process_batch(store, policy=security or SecuritySettings())
    if smtp is not None and smtp.enabled:
        read += mail.deliver_pending(store, smtp)
    return read


def run_until_idle(
    store: Store,
    consumers: tuple[Consumer, ...] = CONSUMERS,
    *,
    security: SecuritySettings | None = None,
) -> int:
    """Run consumers until none has anything left to read (tests, demo, one-shot jobs)."""
    total = 0
    while count := run_once(store, consumers, security=security):
        total += count
    return total


class Worker:
    """Runs the consumers in a background thread, polling when the log is idle."""

    def __init__(
        self,
        store: Store,
        *,
        poll_seconds: float = 0.5,
        security: SecuritySettings | None = None,
        smtp: SmtpSettings | None = None,
        privacy: PrivacySettings | None = None,
        retention: RetentionSettings | None = None,
        audit: AuditSettings | None = None,
    ) -> None:
        self._store = store
        self._security = security
        self._smtp = smtp
        self._privacy = privacy or PrivacySettings()
        self._next_deadline_check = 0.0
        self._retention = retention or RetentionSettings()
        self._next_retention_purge = 0.0
        self._audit = audit or AuditSettings()
        self._next_checkpoint = 0.0
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="clientvault-worker", daemon=True)

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
                busy = run_once(self._store, security=self._security, smtp=self._smtp)
                self._scheduled()
            except Exception:
                # A failing consumer must not kill the worker: log (no event content) and retry.
                logger.exception("a consumer failed; retrying after a pause")
                busy = 0
            if not busy:
                self._stop.wait(self._poll)

    def _scheduled(self) -> None:
        """Jobs run on a timer rather than on new input: the DSR deadline check, the
        retention purge and the audit chain's signed checkpoint."""
        now = time.monotonic()
        if now >= self._next_deadline_check:
            privacy_jobs.check_request_deadlines(self._store, self._privacy)
            self._next_deadline_check = now + self._privacy.deadline_check_minutes * 60
        if self._retention.enabled and now >= self._next_retention_purge:
            self._next_retention_purge = now + self._retention.interval_minutes * 60
            run_retention(self._store, self._retention)
        if audit_checkpoints.configured(self._audit) and now >= self._next_checkpoint:
            self._next_checkpoint = now + self._audit.checkpoint_minutes * 60
            audit_checkpoints.take(self._store, self._audit)

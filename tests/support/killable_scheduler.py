"""A worker process for the scheduler's SIGKILL test: it takes ``test.killable`` with the
real clock, writes a marker file once the job is running, then hangs until it is killed.

Run as ``python -m support.killable_scheduler SETTINGS_JSON MARKER`` with ``tests`` on the path.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

from clientvault.automation.scheduler import Scheduler
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store
from clientvault.store.schedule import ScheduledJob

LEASE = timedelta(minutes=2)


def killable_job(marker: Path | None = None) -> ScheduledJob:
    """The job both the child (which hangs in it) and the test's own scheduler declare."""

    def run(store: Store, settings: Settings) -> None:
        if marker is None:
            return
        marker.write_text("running")
        time.sleep(600)

    return ScheduledJob(
        name="test.killable",
        description="hangs in the child worker until it is killed",
        schedule=lambda settings: "every 1 minute",
        run=run,
        lease=LEASE,
    )


def main() -> None:
    """Take the job's first slot and hang in it."""
    settings = Settings.model_validate_json(sys.argv[1])
    store = open_store(settings)
    Scheduler(store, settings, [killable_job(Path(sys.argv[2]))], owner="doomed-worker").run_due()


if __name__ == "__main__":
    main()

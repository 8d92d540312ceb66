"""Crash probe (issue 21's acceptance): SIGKILL the real worker at random points of a
four-step journey (e-mail, signed webhook, points, e-mail) with 1,000 people in flight,
3 kills (each once the journey's work — runs started, steps done, e-mails sent — has passed a
random point of its total, one in each third of 5-90 %, then a random instant later), then
let a fresh worker finish; every person must end with each step done exactly once, counted
where it lands: e-mails at an aiosmtpd server on loopback (by Message-ID, one
per person and step), webhook calls at a loopback HTTP receiver (by idempotency key), step
rows in the database. Too long for ``make test`` (minutes on a shared 2-core machine): the
suite runs the same code with 20 people (``tests/integration/automation/journeys/test_crash.py``).

Usage: ``PYTHONPATH=src:tests python bench/probe_journey_crash.py [--people 1000] [--kills 3]``
(PostgreSQL too when ``CLIENTVAULT_BENCH_PG_URL`` or ``CLIENTVAULT_TEST_PG_URL`` is set).
Not a benchmark (no ``bench_`` prefix): ``bench/run.py`` does not run it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from _common import backends, blank_settings
from clientvault.migrations.install import initialise
from clientvault.migrations.schema import load_holders
from support.journey_crash import STEPS, WORK, crash_run


def main() -> None:
    """Run the probe on each backend and print what it counted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20_261_207)
    parser.add_argument("--max-delay", type=float, default=0.5, help="seconds, per kill")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds to finish")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default=None)
    args = parser.parse_args()
    load_holders()
    for backend in [args.backend] if args.backend else backends():
        with blank_settings(backend) as settings:
            store = initialise(settings)
            try:
                report = crash_run(
                    store,
                    settings,
                    people=args.people,
                    kills=args.kills,
                    seed=args.seed,
                    max_delay=args.max_delay,
                    deadline=args.deadline,
                )
            finally:
                store.close()
        print(
            f"{backend}: {report.people} people, {len(report.kills_at)} SIGKILLs at "
            f"{report.kills_at} s after each worker start (runs started + steps done + e-mails "
            f"sent then: {report.done_at_kills} of {WORK * report.people}), finished in "
            f"{report.seconds} s; "
            f"e-mails received {report.emails_received} ({report.distinct_emails} distinct "
            f"of {2 * report.people} expected, each once), webhook calls "
            f"{report.webhook_calls} ({report.distinct_webhooks} distinct of {report.people}), "
            f"step rows {report.step_rows} of {STEPS * report.people}: OK",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""SIGKILL the real worker at random moments while a journey has people in flight: every
step is done once (``support.journey_crash``). Small here (20 people, 3 kills);
``bench/probe_journey_crash.py`` runs it with 1,000 people."""

from __future__ import annotations

from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journey_crash import STEPS, crash_run

PEOPLE = 20
KILLS = 3
SEED = 20_261_207


def test_sigkill_during_a_journey_repeats_and_skips_no_step(
    db: Store, db_settings: Settings
) -> None:
    report = crash_run(db, db_settings, people=PEOPLE, kills=KILLS, seed=SEED)
    assert len(report.kills_at) == KILLS
    assert all(done > 0 for done in report.done_at_kills)  # each kill fell during the work
    assert report.distinct_emails == 2 * PEOPLE
    assert report.distinct_webhooks == PEOPLE
    assert report.step_rows == STEPS * PEOPLE

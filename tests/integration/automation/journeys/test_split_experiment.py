"""A journey's A/B split run by an analytics experiment: each customer takes the branch the
experiment assigns, the exposure lands on the log, and the experiment's results count it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from clientvault.analytics import experiments
from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, advance_due
from clientvault.automation.journeys.models import JourneyRun, JourneyStepLog
from clientvault.errors import InvalidInput, NotFound
from clientvault.ingest import consumers
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.journeys import journey, sign_up, template, track

PEOPLE = 12


def _split(experiment: str, names: tuple[str, str] = ("control", "offer")) -> dict[str, object]:
    return {
        "trigger": {"kind": "event", "event": "Signed Up"},
        "steps": [
            {
                "id": "ab",
                "type": "split",
                "experiment": experiment,
                "branches": [
                    {"name": names[0], "percent": 0, "go_to": "plain"},
                    {"name": names[1], "percent": 0, "go_to": "promo"},
                ],
            },
            {"id": "plain", "type": "send_email", "template": "plain"},
            {"id": "done", "type": "exit"},
            {"id": "promo", "type": "send_email", "template": "promo"},
        ],
    }


def test_the_experiment_assigns_the_branch_and_counts_the_exposure(
    db: Store, db_settings: Settings
) -> None:
    with db.sessions.begin() as session:
        experiment = experiments.create(
            session,
            key="welcome-offer",
            name="Welcome offer",
            variants=[("control", 1), ("offer", 1)],
            goal={"kind": "event", "event": "Order Completed"},
        )
    template(db, "plain")
    template(db, "promo")
    with pytest.raises(NotFound):
        journey(db, "Unknown experiment", _split("no-such-experiment"))
    with pytest.raises(InvalidInput, match="named after experiment"):
        journey(db, "Wrong branches", _split("welcome-offer", ("a", "b")))
    journey(db, "Welcome A/B", _split("welcome-offer"))
    people = [sign_up(db, n) for n in range(PEOPLE)]
    for n in range(PEOPLE):
        track(db, f"user-{n}", "Signed Up")
    consumers.drain(db, JOURNEY_CONSUMER)
    advance_due(db, db_settings, now=utcnow())
    with db.sessions() as session:
        runs = dict(session.execute(select(JourneyRun.id, JourneyRun.customer_id)).all())
        taken = {
            runs[run_id]: outcome
            for run_id, outcome in session.execute(
                select(JourneyStepLog.run_id, JourneyStepLog.outcome).where(
                    JourneyStepLog.step_id == "ab"
                )
            )
        }
        expected = {c: experiments.assign(experiment, str(c)).variant for c in people}
        assert taken == {c: f"branch: {v} (experiment welcome-offer)" for c, v in expected.items()}
        counted = experiments.results(session, "welcome-offer").exposures
    assert sum(counted.values()) == PEOPLE
    # Customer ids are random, so either arm may be empty: compared arm by arm.
    for variant in ("control", "offer"):
        wanted = sum(1 for e in expected.values() if e == variant)
        assert counted.get(variant, 0) == wanted

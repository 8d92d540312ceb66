"""A journey's A/B split run by an analytics experiment: each customer takes the branch the
experiment assigns, the exposure lands on the log, and the experiment's results count it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.analytics import experiments
from clientvault.app import create_app
from clientvault.automation.journeys import catalogue
from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, advance_due
from clientvault.automation.journeys.models import JourneyRun, JourneyStepLog
from clientvault.errors import InvalidInput, NotFound
from clientvault.ingest import consumers
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.journeys import journey, sign_up, template, track
from support.predict import sign_in_staff

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


def stats_journey_id(db: Store) -> str:
    with db.sessions() as session:
        return str(catalogue.find_journey(session, "Welcome A/B").id)


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
    # The journey page shows entrants and conversions per branch.
    with db.sessions() as session:
        stats = catalogue.journey_stats(session, catalogue.find_journey(session, "Welcome A/B"))
    arms = {v: sum(1 for e in expected.values() if e == v) for v in ("control", "offer")}
    assert stats.branches == {f"ab: {v}": (n, 0) for v, n in arms.items() if n}
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        sign_in_staff(client, db, db_settings, role="mk", permissions={"campaigns:manage"})
        page = client.get(f"/console/campaigns/journeys/{stats_journey_id(db)}")
    assert page.status_code == 200
    assert 'data-table="branches"' in page.text

"""Date, consent and wait-for-event triggers and the branching steps, on the real parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from clientvault.automation.journeys import jobs
from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, POINTS_KIND, advance_due
from clientvault.automation.journeys.models import JourneyRun, JourneyStepLog
from clientvault.customers.scores import scores_of
from clientvault.identity.models import Customer
from clientvault.ingest import consumers
from clientvault.privacy.models import ConsentRecord
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import ALWAYS, decide, journey, sign_up, template, track


def test_birthdays_start_on_the_day_in_the_installation_time_zone_once(
    db: Store, db_settings: Settings
) -> None:
    settings = db_settings.model_copy(update={"timezone": "Pacific/Auckland", "automation": ALWAYS})
    template(db, "birthday")
    journey(
        db,
        "Birthday",
        {
            "trigger": {"kind": "date", "attribute": "birthday", "at_hour": 9},
            "steps": [{"id": "card", "type": "send_email", "template": "birthday"}],
            "reentry": {"mode": "once_per_days", "days": 300},
        },
    )
    ada = sign_up(db, 1)
    bob = sign_up(db, 2)
    with db.sessions.begin() as session:
        session.execute(update(Customer).where(Customer.id == ada).values(birthday="03-15"))
        session.execute(update(Customer).where(Customer.id == bob).values(birthday="03-14"))
    # 14 March 21:30 UTC is 15 March 10:30 in Auckland: Ada's birthday there, not Bob's.
    now = datetime(2027, 3, 14, 21, 30, tzinfo=UTC)
    assert jobs.start_date_runs(db, settings, now=now - timedelta(hours=2)) == 0  # 08:30: early
    assert jobs.start_date_runs(db, settings, now=now) == 1
    assert jobs.start_date_runs(db, settings, now=now + timedelta(hours=1)) == 0  # once a day
    with db.sessions() as session:
        runs = session.scalars(select(JourneyRun)).all()
    assert [(r.customer_id, r.entry_key) for r in runs] == [(ada, "date:2027-03-15")]


def test_birthdays_start_on_the_day_in_the_customer_time_zone(
    db: Store, db_settings: Settings
) -> None:
    settings = db_settings.model_copy(update={"timezone": "Europe/Paris", "automation": ALWAYS})
    journey(
        db,
        "Birthday",
        {
            "trigger": {"kind": "date", "attribute": "birthday", "at_hour": 9},
            "steps": [{"id": "mark", "type": "update_trait", "trait": "celebrated", "value": 1}],
            "reentry": {"mode": "every_time"},
        },
    )
    auckland = {"timezone": "Pacific/Auckland"}
    ada = sign_up(db, 1, birthday="1990-03-15", traits=auckland)
    bob = sign_up(db, 2, birthday="1990-03-15")  # no zone of his own: the installation's
    eve = sign_up(db, 3, birthday="1990-03-15", traits={"timezone": "Mars/Olympus"})
    # 14 March 21:30 UTC: 10:30 on the 15th in Auckland, 22:30 on the 14th in Paris.
    evening = datetime(2027, 3, 14, 21, 30, tzinfo=UTC)
    assert jobs.start_date_runs(db, settings, now=evening) == 1
    # 15 March 08:30 UTC: 09:30 in Paris (and 21:30, still the 15th, in Auckland).
    assert jobs.start_date_runs(db, settings, now=evening + timedelta(hours=11)) == 2
    assert jobs.start_date_runs(db, settings, now=evening + timedelta(hours=12)) == 0
    with db.sessions() as session:
        runs = session.execute(
            select(JourneyRun.customer_id, JourneyRun.entry_key).order_by(JourneyRun.id)
        ).all()
    assert runs[0] == (ada, "date:2027-03-15")
    assert sorted(runs[1:]) == sorted([(bob, "date:2027-03-15"), (eve, "date:2027-03-15")])


def test_consent_granted_starts_a_journey(db: Store, db_settings: Settings) -> None:
    template(db, "thanks")
    journey(
        db,
        "Opt-in",
        {
            "trigger": {"kind": "consent_granted", "purpose": "marketing_email"},
            "steps": [{"id": "thanks", "type": "send_email", "template": "thanks"}],
        },
    )
    ada = sign_up(db, 1, consent=False)
    decide(db, ada, "granted")
    with db.sessions.begin() as session:  # older than the settling delay
        session.execute(
            update(ConsentRecord).values(recorded_at=datetime.now(UTC) - timedelta(seconds=5))
        )
    assert jobs.start_consent_runs(db, db_settings) == 1
    assert jobs.start_consent_runs(db, db_settings) == 0


def test_wait_for_an_event_conditions_splits_traits_and_points(
    db: Store, db_settings: Settings
) -> None:
    settings = db_settings.model_copy(update={"automation": ALWAYS})
    journey(
        db,
        "Branches",
        {
            "trigger": {"kind": "event", "event": "Signed Up"},
            "steps": [
                {
                    "id": "await",
                    "type": "wait",
                    "minutes": 60,
                    "until_event": "App Opened",
                    "timeout_go_to": "lazy",
                },
                {
                    "id": "check",
                    "type": "condition",
                    "event_since_entry": "App Opened",
                    "attributes": [{"field": "country", "value": "FR"}],
                    "then_go_to": "split",
                    "else_go_to": "exit",
                },
                {
                    "id": "split",
                    "type": "split",
                    "branches": [
                        {"name": "A", "percent": 50, "go_to": "score"},
                        {"name": "B", "percent": 50, "go_to": "score"},
                    ],
                },
                {"id": "score", "type": "points", "points": 10},
                {"id": "mark", "type": "update_trait", "trait": "engaged", "value": True},
                {"id": "done", "type": "exit"},
                {"id": "lazy", "type": "update_trait", "trait": "engaged", "value": False},
            ],
        },
    )
    ada = sign_up(db, 1)
    bob = sign_up(db, 2)
    with db.sessions.begin() as session:
        session.execute(update(Customer).values(country="FR"))
    track(db, "user-1", "Signed Up")
    track(db, "user-2", "Signed Up")
    consumers.drain(db, JOURNEY_CONSUMER)
    advance_due(db, settings)
    track(db, "user-1", "App Opened")
    consumers.drain(db, JOURNEY_CONSUMER)
    advance_due(db, settings)
    advance_due(db, settings, now=datetime.now(UTC) + timedelta(minutes=61))
    with db.sessions() as session:
        traits = {c.id: c.traits.get("engaged") for c in session.scalars(select(Customer))}
        ada_points = [s.value for s in scores_of(session, ada) if s.kind == POINTS_KIND]
        ada_steps = session.scalars(
            select(JourneyStepLog.step_id)
            .join(JourneyRun, JourneyRun.id == JourneyStepLog.run_id)
            .where(JourneyRun.customer_id == ada)
            .order_by(JourneyStepLog.seq)
        ).all()
    assert traits == {ada: True, bob: False}
    assert ada_points == [10.0]
    assert ada_steps == ["await", "check", "split", "score", "mark", "done"]

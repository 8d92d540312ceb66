"""A/B experiments: deterministic assignment by the weights, exposures from Segment's
``Experiment Viewed`` events, results and SRM through the statistics engine."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert

from clientvault.analytics import experiments, stats
from clientvault.errors import Conflict, InvalidInput
from clientvault.ingest.models import Event
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.analytics_history import anonymous_event, exposures


def test_assignment_is_deterministic_and_follows_the_weights(db: Store) -> None:
    with db.sessions.begin() as session:
        experiment = experiments.create(
            session,
            key="checkout-button",
            name="Green button",
            variants=[("control", 1), ("green", 3)],
            goal={"kind": "event", "event": "Order Completed"},
        )
        units = [f"anon-{n}" for n in range(4000)]
        first = [experiments.assign(experiment, u).variant for u in units]
        again = [experiments.assign(experiment, u).variant for u in units]
        assert first == again
        counts = [first.count("control"), first.count("green")]
        # The split matches 25/75: the SRM check of a correct split does not fire.
        assert not stats.sample_ratio_mismatch(counts, [1, 3]).mismatch
        assert 900 < counts[0] < 1100
        held = experiments.create(
            session,
            key="held",
            name="With holdout",
            variants=[("a", 1), ("b", 1)],
            goal={"kind": "revenue"},
            holdout=0.2,
        )
        outside = sum(not experiments.assign(held, u).in_experiment for u in units)
        assert 650 < outside < 950
        experiments.stop(session, "held")
        assert {experiments.assign(held, u).variant for u in units[:50]} == {"a"}
        with pytest.raises(Conflict):
            experiments.create(
                session,
                key="held",
                name="again",
                variants=[("a", 1), ("b", 1)],
                goal={"kind": "revenue"},
            )
        with pytest.raises(InvalidInput):
            experiments.create(
                session, key="x", name="one variant", variants=[("a", 1)], goal={"kind": "revenue"}
            )
        with pytest.raises(InvalidInput):
            experiments.create(
                session,
                key="y",
                name="bad goal",
                variants=[("a", 1), ("b", 1)],
                goal={"kind": "clicks"},
            )


def test_results_from_experiment_viewed_events(db: Store) -> None:
    with db.sessions.begin() as session:
        experiments.create(
            session,
            key="hero",
            name="Hero image",
            variants=[("control", 1), ("photo", 1)],
            goal={"kind": "event", "event": "Signed Up"},
            planned_users=100,
        )
    start = utcnow() + timedelta(seconds=1)
    # 120 people see control (30 sign up), 100 see the photo (40 sign up); one person's second
    # exposure to the other variant is ignored; a sign-up before exposure does not count.
    rows = exposures("hero", [("control", 120, 30), ("photo", 100, 40)], start)
    n = len(rows)
    other = b"control-0".ljust(32, b"_")
    rows.append(
        _event(
            n,
            other,
            "Experiment Viewed",
            start + timedelta(minutes=1),
            {"experiment_id": "hero", "variation_id": "photo"},
        )
    )
    early = b"photo-99".ljust(32, b"_")
    rows.append(_event(n + 1, early, "Signed Up", start - timedelta(minutes=5), {}))
    rows.append(
        _event(
            n + 2,
            other,
            "Experiment Viewed",
            start,
            {"experiment_id": "another", "variation_id": "photo"},
        )
    )
    with db.sessions.begin() as session:
        session.execute(insert(Event), rows)
        result = experiments.results(session, "hero")
    assert result.exposures == {"control": 120, "photo": 100}
    reference = stats.sample_ratio_mismatch([120, 100], [1, 1])
    assert result.srm.p_value == pytest.approx(reference.p_value)
    assert result.goal is not None
    comparison = result.goal.comparisons["photo"]
    expected = stats.two_proportion_ztest(
        stats.Summary.of_conversions(30, 120), stats.Summary.of_conversions(40, 100)
    )
    assert comparison == expected
    assert result.goal.adjusted_p["photo"] == pytest.approx(expected.p_value)
    assert result.goal.bayesian["photo"].chance_to_win > 0.95
    assert result.sample_size_per_variant is not None
    assert result.sample_size_per_variant > 1000


def _event(
    n: int, anonymous: bytes, name: str, at: datetime, properties: dict[str, object]
) -> dict[str, object]:
    return anonymous_event(f"x{n}", anonymous, name, at, properties)

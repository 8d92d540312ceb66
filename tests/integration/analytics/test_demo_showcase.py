"""The demo's analytics step: a CLV fit when there is enough data, an experiment whose
exposures are the shoppers' first checkouts, and results the page can show."""

from __future__ import annotations

from clientvault.analytics import experiments
from clientvault.demo.analytics import EXPERIMENT, showcase
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.analytics_history import load


def test_showcase_starts_an_experiment_from_checkouts(db: Store, db_settings: Settings) -> None:
    load(db)
    line = showcase(db, db_settings)
    assert "CLV not fitted" in line  # four customers are too few for BG/NBD
    assert f"experiment {EXPERIMENT} with 2 exposures" in line  # A's and B's checkouts
    with db.sessions() as session:
        result = experiments.results(session, EXPERIMENT)
    assert sum(result.exposures.values()) == 2
    assert "exists already" in showcase(db, db_settings)

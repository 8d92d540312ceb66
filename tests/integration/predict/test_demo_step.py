"""The demo's predictions step: planted fraud is found (precision and recall reported) and
the models train or are reported as refused by the minimum-data rules."""

from __future__ import annotations

import re

from clientvault.demo.predict import show_predictions
from clientvault.demo.showcase import STEPS
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.predict import make_shop


def test_the_showcase_plants_fraud_and_finds_it(db: Store, db_settings: Settings) -> None:
    assert show_predictions in STEPS
    make_shop(db, customers=40, days=80)  # too little history: the models are refused, fast
    line = show_predictions(db, db_settings)
    found = re.search(
        r"(\d+) planted fraudulent orders, (\d+) flagged \(precision ([\d.]+), recall ([\d.]+)\)",
        line,
    )
    assert found is not None, line
    assert int(found[1]) == 8
    assert float(found[4]) == 1.0, line
    assert float(found[3]) >= 0.8, line
    assert "recommend" in line
    assert "churn" in line

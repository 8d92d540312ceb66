"""``clientvault predict``: train (refused with a clear error on too little data), evaluate an
external table, list and promote models."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.store.context import Store
from support.predict import grant, make_shop

runner = CliRunner()


def test_train_list_promote_and_evaluate(data_dir: Path, db: Store, tmp_path: Path) -> None:
    refused = runner.invoke(app, ["predict", "train", "churn", "--data-dir", str(data_dir)])
    assert refused.exit_code != 0
    assert "no orders to learn from" in refused.output
    unknown = runner.invoke(app, ["predict", "train", "weather", "--data-dir", str(data_dir)])
    assert "unknown task 'weather'" in unknown.output

    shop = make_shop(db, customers=40, days=200)
    grant(db, shop.customers, "personalisation")  # the recommender learns from these only
    trained = runner.invoke(app, ["predict", "train", "recommend", "--data-dir", str(data_dir)])
    assert trained.exit_code == 0, trained.output
    assert "promoted" in trained.output
    assert "precision_at_10" in trained.output
    listed = runner.invoke(app, ["predict", "list", "--json", "--data-dir", str(data_dir)])
    assert listed.exit_code == 0, listed.output
    assert '"task": "recommend"' in listed.output
    version = trained.output.split(":", 1)[0].strip()
    again = runner.invoke(app, ["predict", "promote", version, "--data-dir", str(data_dir)])
    assert again.exit_code != 0
    assert "already promoted" in again.output

    # An external table: 200 customers, leaving when their plan is "monthly" mostly.
    rng = random.Random(3)
    table = tmp_path / "churn.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["plan", "months", "left"])
        for _ in range(200):
            plan = rng.choice(["monthly", "yearly"])
            left = "Yes" if rng.random() < (0.6 if plan == "monthly" else 0.1) else "No"
            writer.writerow([plan, rng.randint(1, 48), left])
    evaluated = runner.invoke(app, ["predict", "evaluate", "--csv", str(table), "--target", "left"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "model: auc" in evaluated.output
    assert "logistic_regression: auc" in evaluated.output
    assert "plan=" in evaluated.output

"""``clientvault support train-categories``: says why there is no model, then trains one and
reports its size and hold-out accuracy. The command does not depend on the database (the
training is tested on both in tests/integration/support/test_categories.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.store.context import Store
from support.privacy_core import make_customers, person, prepare
from support.ticket_texts import closed_tickets, tickets

runner = CliRunner()


def _train(data_dir: Path) -> str:
    result = runner.invoke(
        app, ["support", "train-categories", "--data-dir", str(data_dir)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_train_categories_on_demand(data_dir: Path, db: Store) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the command does not depend on the database")
    prepare(db)
    assert _train(data_dir).startswith("No model: not enough data")
    closed_tickets(db, make_customers(db, person(1), person(2)), tickets(20, seed=9))
    assert _train(data_dir).startswith(
        "Trained on 20 closed tickets (account 5, billing 5, delivery 5, returns 5); "
        "hold-out accuracy"
    )

"""``clientvault analytics kpis | funnel | experiments``: the same numbers as the API."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.store.context import Store
from support.analytics_history import load

runner = CliRunner()
MARCH = ["--from", "2026-03-01", "--to", "2026-03-31"]


def _run(*args: str) -> str:
    result = runner.invoke(app, ["analytics", *args], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_kpis_funnel_and_experiments(db: Store, data_dir: Path) -> None:
    load(db)
    where = ["--data-dir", str(data_dir)]
    kpis = json.loads(_run("kpis", *MARCH, "--json", *where))
    assert (kpis["visitors"], kpis["orders"], kpis["revenue"]) == (5, 3, 180.0)
    table = _run("kpis", *MARCH, *where)
    assert "revenue" in table
    assert "180" in table
    funnel = json.loads(_run("funnel", *MARCH, "--mode", "strict", "--json", *where))
    assert [s["people"] for s in funnel["steps"]] == [4, 2, 1, 1]
    _run(
        "experiments",
        "create",
        "hero",
        "--name",
        "Hero",
        "--variant",
        "control",
        "--variant",
        "photo=3",
        "--goal-event",
        "Signed Up",
        *where,
    )
    results = json.loads(_run("experiments", "results", "hero", "--json", *where))
    assert [v["weight"] for v in results["variants"]] == [0.25, 0.75]
    assert "SRM p" in _run("experiments", "results", "hero", *where)
    refused = runner.invoke(
        app,
        [
            "analytics",
            "experiments",
            "create",
            "hero",
            "--name",
            "x",
            "--variant",
            "a",
            "--variant",
            "b=x",
            *where,
        ],
    )
    assert refused.exit_code != 0
    assert "KEY=WEIGHT" in refused.output

"""``clientvault analytics kpis | funnel | experiments``: the same numbers as the API."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.store.context import Store
from support.analytics_history import A, C, load, load_browsers, make_segment

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


def test_segment_option_restricts_kpis_and_funnel(db: Store, data_dir: Path) -> None:
    """``--segment`` gives the segment members' numbers, as the dashboard's filter does; an
    unknown or too small segment is a one-line error, not everyone's numbers."""
    load(db)
    load_browsers(db)
    make_segment(db, "a-and-c", "A and C", [A, C])
    where = ["--data-dir", str(data_dir)]
    everyone = json.loads(_run("kpis", *MARCH, "--json", *where))
    browsers = json.loads(_run("kpis", *MARCH, "--segment", "browsers", "--json", *where))
    assert (everyone["visitors"], browsers["visitors"]) == (10, 5)
    funnel = json.loads(_run("funnel", *MARCH, "--segment", "browsers", "--json", *where))
    assert [s["people"] for s in funnel["steps"]] == [5, 5, 0, 0]
    for slug, message in (("nobody", "nobody"), ("a-and-c", "fewer than")):
        refused = runner.invoke(
            app, ["analytics", "kpis", *MARCH, "--segment", slug, *where], terminal_width=200
        )
        assert refused.exit_code != 0
        assert message in refused.output
        assert "Traceback" not in refused.output

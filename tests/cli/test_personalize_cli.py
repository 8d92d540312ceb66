"""``clientvault personalize``: slots and offers from files, a decision and a ranking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.cli.common import console
from clientvault.customers.scores import Score, put_scores
from clientvault.store.context import Store
from support.personalize import HERO, visitor

runner = CliRunner()


def _run(data_dir: Path, *args: str, code: int = 0) -> str:
    result = runner.invoke(
        app, ["personalize", *args, "--data-dir", str(data_dir)], terminal_width=200
    )
    assert result.exit_code == code, result.output
    return result.output


def test_slots_and_offers_from_files(
    data_dir: Path, db: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 200)
    customer = visitor(db, 1)
    with db.sessions.begin() as session:
        put_scores(session, "rfm_segment", [Score(customer, label="champions")], model_version="t")
    slot_file = tmp_path / "hero.yaml"
    slot_file.write_text(yaml.safe_dump(HERO), encoding="utf-8")
    assert "3 variant(s)" in _run(data_dir, "slot-save", str(slot_file))
    assert "already called" in _run(data_dir, "slot-save", str(slot_file), code=1)
    assert "champions (score)" in _run(data_dir, "slots")
    decided = _run(data_dir, "decide", "homepage-hero", "--customer", str(customer))
    assert "champions" in decided
    assert "Thank you for being a champion" in decided

    offer_file = tmp_path / "offer.json"
    offer_file.write_text(
        json.dumps({"key": "winback", "kind": "discount", "title": "10% off", "margin": 0.2}),
        encoding="utf-8",
    )
    assert "discount offer saved" in _run(data_dir, "offer-save", str(offer_file))
    assert "winback" in _run(data_dir, "offers")
    ranked = _run(data_dir, "offers", "--customer", str(customer))
    assert "0.0300" in ranked  # 0.5 x 0.3 x 0.2 x 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"key": "x", "kind": "product", "title": "X", "margin": 1}))
    assert "names its SKU" in _run(data_dir, "offer-save", str(bad), code=1)

"""``clientvault journey list|show|pause|resume``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.cli.common import console
from clientvault.store.context import Store
from support.journeys import journey, template

runner = CliRunner()
DEFINITION = {
    "trigger": {"kind": "event", "event": "Signed Up"},
    "steps": [{"id": "hello", "type": "send_email", "template": "welcome"}],
}


def _run(data_dir: Path, *args: str) -> str:
    result = runner.invoke(app, ["journey", *args, "--data-dir", str(data_dir)], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_journeys_are_listed_shown_paused_and_resumed(
    data_dir: Path, db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 200)
    template(db, "welcome")
    journey(db, "Welcome series", DEFINITION)
    listed = _run(data_dir, "list")
    assert "Welcome series" in listed
    assert "active" in listed
    shown = _run(data_dir, "show", "Welcome series")
    assert '"template": "welcome"' in shown
    assert "When the customer does Signed Up" in shown
    assert "Send the e-mail 'welcome'" in shown
    assert "paused" in _run(data_dir, "pause", "Welcome series")
    assert "active" in _run(data_dir, "resume", "Welcome series")
    again = runner.invoke(app, ["journey", "resume", "Welcome series", "--data-dir", str(data_dir)])
    assert again.exit_code != 0
    assert "cannot be resumed" in again.output
    missing = runner.invoke(app, ["journey", "show", "Nope", "--data-dir", str(data_dir)])
    assert missing.exit_code != 0

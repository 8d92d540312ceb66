"""``serve`` runs the app that the composition root (``clientvault.app.main``, the console
script) hands the CLI, which does not import the HTTP faces itself. Serving through the
console script is ``test_tls.py``; here, the CLI on its own refuses clearly."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from clientvault.cli.app import app


def test_serve_without_the_composition_root_is_refused_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "install")])
    assert result.exit_code == 2, result.output
    assert "serving needs the app: run the clientvault command" in result.output

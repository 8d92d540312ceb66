"""``clientvault dsr`` on a real installation: create, list, show, verify-link, extend,
and the refusal to complete an unverified request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.settings import Settings
from clientvault.store.context import open_store
from support.privacy import add_customer

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "install"
    code, shown = _run("init", "--data-dir", str(path))
    assert code == 0, shown
    store = open_store(Settings(env="test", data_dir=path))
    try:
        add_customer(store, email="alan@example.com")
    finally:
        store.close()
    return path


def test_dsr_commands(data_dir: Path) -> None:
    where = ("--data-dir", str(data_dir))
    code, shown = _run("dsr", "create", "--kind", "erasure", "--email", "alan@example.com", *where)
    assert code == 0, shown
    request_id = shown.split()[1].rstrip(":")
    assert "GDPR erasure, received" in shown
    assert "on time" in shown

    code, shown = _run("dsr", "list", *where)
    assert code == 0
    assert "erasure" in shown

    code, shown = _run("dsr", "show", request_id, *where)
    assert code == 0
    assert json.loads(runner.invoke(app, ["dsr", "show", request_id, *where]).stdout)["status"] == (
        "received"
    )

    code, shown = _run("dsr", "complete", request_id, *where)
    assert code == 1
    assert "not verified" in shown

    code, shown = _run("dsr", "verify-link", request_id, *where)
    assert code == 0, shown
    assert "alan@example.com" not in shown

    code, shown = _run("dsr", "extend", request_id, "--reason", "many systems to search", *where)
    assert code == 0, shown
    code, shown = _run("dsr", "extend", request_id, "--reason", "again", *where)
    assert code == 1
    assert "only once" in shown

    code, shown = _run("dsr", "create", "--kind", "access", "--email", "nobody@example.com", *where)
    assert code == 1
    assert "no customer" in shown

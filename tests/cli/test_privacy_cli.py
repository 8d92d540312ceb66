"""``clientvault privacy export | erase | purge | public-key`` on a real installation."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.security.signing import verify
from clientvault.settings import Settings
from clientvault.store.context import open_store
from support.privacy_core import make_customers, person

runner = CliRunner()


def test_export_erase_purge_and_verify(tmp_path: Path) -> None:
    data_dir = tmp_path / "install"
    result = runner.invoke(app, ["init", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    store = open_store(Settings(env="test", data_dir=data_dir))
    try:
        [customer_id] = make_customers(store, person(1))
    finally:
        store.close()
    base = ["--data-dir", str(data_dir)]

    archive = tmp_path / "export.zip"
    result = runner.invoke(
        app,
        ["privacy", "export", str(customer_id), "-o", str(archive), "--reason", "access", *base],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(zipfile.ZipFile(archive).read("export.json"))
    assert document["customer_id"] == str(customer_id)

    result = runner.invoke(
        app, ["privacy", "erase", str(customer_id), "--reason", "erasure request", *base]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    result = runner.invoke(app, ["privacy", "public-key", *base])
    assert result.exit_code == 0
    assert verify(printed["certificate"], printed["signature"], result.stdout)

    again = runner.invoke(app, ["privacy", "erase", str(customer_id), "--reason", "x", *base])
    assert again.exit_code == 1
    assert "no such customer" in again.output

    result = runner.invoke(app, ["privacy", "purge", *base])
    assert result.exit_code == 0, result.output
    assert "ingest.events: 0 row(s)" in result.output

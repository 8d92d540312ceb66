"""``clientvault sources``: allowed website origins set at creation, changed, and listed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.ingest.sources import authenticate
from clientvault.settings import Settings
from clientvault.store.context import open_store

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.output


def test_origins_are_set_changed_listed_and_read_with_the_write_key(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "install")
    assert _run("init", "--data-dir", data_dir)[0] == 0
    code, output = _run(
        "sources", "create", "shop", "--data-dir", data_dir,
        "--origin", "https://Shop.example.com:443/", "--origin", "http://localhost:8080",
    )  # fmt: skip
    assert code == 0, output
    write_key = next(line for line in output.splitlines() if line.startswith("cvwk_"))
    assert "https://shop.example.com, http://localhost:8080" in output
    code, output = _run("sources", "list", "--data-dir", data_dir)
    assert "https://shop.example.com" in output
    assert "http://localhost:8080" in output

    code, output = _run(
        "sources", "origins", "shop", "--data-dir", data_dir,
        "--remove", "http://localhost:8080", "--add", "https://www.example.com",
    )  # fmt: skip
    assert code == 0, output
    assert "https://shop.example.com, https://www.example.com" in output
    store = open_store(Settings(env="test", data_dir=Path(data_dir)))
    try:
        source = authenticate(store.engine, write_key=write_key)
        assert source is not None
        assert source.origins == ("https://shop.example.com", "https://www.example.com")
        assert source.allows("https://www.example.com")
        assert not source.allows("http://localhost:8080")

        code, output = _run("sources", "origins", "shop", "--any", "--data-dir", data_dir)
        assert code == 0
        assert "from: any" in output
        source = authenticate(store.engine, write_key=write_key)
        assert source is not None
        assert source.origins == ()
    finally:
        store.close()


def test_a_bad_origin_is_refused_with_a_clear_error_and_nothing_created(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "install")
    assert _run("init", "--data-dir", data_dir)[0] == 0
    for bad in ("shop.example.com", "https://shop.example.com/checkout", "ftp://example.com"):
        code, output = _run("sources", "create", "shop", "--origin", bad, "--data-dir", data_dir)
        assert code != 0
        assert "scheme://host[:port]" in output, output
        assert "Traceback" not in output
    code, output = _run("sources", "list", "--data-dir", data_dir)
    assert "shop" not in output
    code, output = _run("sources", "origins", "nope", "--add", "https://a.example.com",
                        "--data-dir", data_dir)  # fmt: skip
    assert code != 0
    assert "no source named" in output

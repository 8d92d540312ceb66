"""``clientvault init``, key handling errors and ``keys rotate`` through the real CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.identity.profiles import create_customers, reveal_identifiers
from clientvault.identity.schemas import CustomerCreate
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import Settings
from clientvault.store import keyfile
from clientvault.store.context import open_store

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "install"


def test_init_creates_an_installation_and_refuses_a_second_time(data_dir: Path) -> None:
    code, output = _run("init", "--data-dir", str(data_dir))
    assert code == 0, output
    key_file = data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (data_dir / "clientvault.db").exists()
    assert (data_dir / "keystore.db").exists()
    before = key_file.read_bytes()

    code, output = _run("init", "--data-dir", str(data_dir))
    assert code == 1
    assert "exists already" in output
    assert "Traceback" not in output
    assert key_file.read_bytes() == before


def test_init_refuses_a_database_that_already_has_a_schema(data_dir: Path) -> None:
    assert _run("init", "--data-dir", str(data_dir))[0] == 0
    (data_dir / "master.key").unlink()
    code, output = _run("init", "--data-dir", str(data_dir))
    assert code == 1
    assert "the database has a schema" in output
    assert not (data_dir / "master.key").exists()


def test_missing_key_file_is_a_clear_error(data_dir: Path) -> None:
    assert _run("init", "--data-dir", str(data_dir))[0] == 0
    (data_dir / "master.key").unlink()
    code, output = _run("keys", "status", "--data-dir", str(data_dir))
    assert code == 2
    assert "not found; run `clientvault init` first" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "not a valid clientvault key file"),
        (keyfile.generate().to_json(), "does not belong to this installation"),
    ],
)
def test_wrong_key_file_is_a_clear_error(data_dir: Path, content: str, message: str) -> None:
    assert _run("init", "--data-dir", str(data_dir))[0] == 0
    key_file = data_dir / "master.key"
    key_file.write_text(content)
    key_file.chmod(0o600)
    code, output = _run("keys", "status", "--data-dir", str(data_dir))
    assert code == 2
    assert message in output
    assert "Traceback" not in output


def test_a_world_readable_key_file_is_refused(data_dir: Path) -> None:
    assert _run("init", "--data-dir", str(data_dir))[0] == 0
    (data_dir / "master.key").chmod(0o644)
    code, output = _run("keys", "status", "--data-dir", str(data_dir))
    assert code == 2
    assert "readable by others" in output


def test_rotation_rewraps_every_data_key_and_leaves_data_readable(data_dir: Path) -> None:
    assert _run("init", "--data-dir", str(data_dir))[0] == 0
    settings = Settings(env="test", data_dir=data_dir)
    store = open_store(settings)
    profiles = [CustomerCreate(email=f"user{i}@example.com") for i in range(25)]
    with store.sessions.begin() as session:
        ids = create_customers(
            session, store, profiles=profiles, source="test", default_region="FR"
        )
    store.close()

    code, output = _run("keys", "rotate", "--data-dir", str(data_dir))
    assert code == 0, output
    assert "Re-wrapped 25 data keys under KEK version 2" in output

    document = json.loads((data_dir / "master.key").read_text())
    assert list(document["keks"]) == ["2"]
    assert document["current_kek"] == 2
    store = open_store(settings)
    try:
        assert store.keystore.count_by_kek_version() == {2: 25}
        job = Principal.system("test", PII_REVEAL)
        with store.sessions() as session:
            revealed = reveal_identifiers(
                session, store, principal=job, customer_ids=ids, fields=["email"], reason="t"
            )
        assert sorted(p.email or "" for p in revealed.values()) == sorted(
            p.email or "" for p in profiles
        )
    finally:
        store.close()
    code, output = _run("keys", "status", "--data-dir", str(data_dir))
    assert code == 0
    assert "version 2: 25 data keys" in output


CLIENTVAULT = Path(sys.executable).parent / "clientvault"


def test_a_key_file_from_before_rotation_is_refused_at_every_entry_point(
    data_dir: Path, tmp_path: Path
) -> None:
    """Issue 16, finding 9: the pre-rotation ``master.key`` put back. Its KEK version 1 is
    still this keystore's (rotation keeps the check), but no longer the current one: every
    command that opens the store, ``serve`` and ``worker`` included, refuses to start."""
    assert _run("init", "--data-dir", str(data_dir))[0] == 0
    key_file = data_dir / "master.key"
    before_rotation = key_file.read_bytes()
    assert _run("keys", "rotate", "--data-dir", str(data_dir))[0] == 0
    key_file.write_bytes(before_rotation)
    message = (
        "the key file holds key-encryption key version 1 (current 1), but this keystore's "
        "current version is 2"
    )

    for command in (["keys", "status"], ["audit", "verify"], ["migrate"]):
        code, output = _run(*command, "--data-dir", str(data_dir))
        assert code == 2, (command, output)
        assert message in " ".join(output.split())
        assert "Traceback" not in output

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTVAULT_")}
    servers = [
        subprocess.Popen(
            [str(CLIENTVAULT), command, "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        for command in ("serve", "worker")
    ]
    for server in servers:
        try:
            output, _ = server.communicate(timeout=60)
        finally:
            server.kill()  # only if it started after all (the old behaviour)
        assert server.returncode == 2, output
        assert message in " ".join(output.decode().split())


def test_database_files_are_created_owner_only_and_shared_ones_are_refused(
    data_dir: Path,
) -> None:
    """Issue 16, finding 10: under the usual umask 022, ``init`` used to leave the databases
    and their WAL and shm 0644. They are 0600 from creation; a loosened one is refused."""
    previous = os.umask(0o022)
    try:
        assert _run("init", "--data-dir", str(data_dir))[0] == 0
        store = open_store(Settings(env="test", data_dir=data_dir))
        try:
            with store.sessions.begin() as session:
                create_customers(
                    session,
                    store,
                    profiles=[CustomerCreate(email="mode@example.com")],
                    source="test",
                    default_region="FR",
                )
            files = [
                data_dir / f"{name}{suffix}"
                for name in ("clientvault.db", "keystore.db")
                for suffix in ("", "-wal", "-shm")
            ]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}  # all exist now
        finally:
            store.close()
    finally:
        os.umask(previous)
    assert modes == {f.name: 0o600 for f in files}

    (data_dir / "keystore.db").chmod(0o644)
    code, output = _run("keys", "status", "--data-dir", str(data_dir))
    assert code == 2
    unwrapped = "".join(output.split())  # the console wraps long paths anywhere
    expected = f"database files are readable by others: {data_dir / 'keystore.db'} (mode 0644)"
    assert "".join(expected.split()) in unwrapped
    assert "chmod600them" in unwrapped

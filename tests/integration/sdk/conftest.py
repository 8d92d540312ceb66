"""A real ``clientvault serve`` process on a loopback port, for the official SDKs to talk to.

Fixtures:

``sdk_server`` (module, per backend)
    A ``ServerProcess`` running ``clientvault serve`` as a subprocess on an installation made
    for this module: SQLite, and PostgreSQL (its own two databases, dropped afterwards) when
    ``CLIENTVAULT_TEST_PG_URL`` is set. ``/healthz`` answers before any test runs; the server
    is stopped after the module, and its output is shown if it fails to start.
``sdk_store`` (module)
    The same installation opened in the test process, to look at what the server stored.
``source`` (function)
    A ``Source`` (``name``, ``write_key``, ``url``) created through the service for one test:
    tests share the server and tell their rows apart by source name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from clientvault.ingest.sources import create_source
from clientvault.migrations.install import initialise
from clientvault.settings import DatabaseSettings, KeystoreSettings, Settings
from clientvault.store.context import Store, open_store

PG_URL = os.environ.get("CLIENTVAULT_TEST_PG_URL")
CLIENTVAULT = Path(sys.executable).parent / "clientvault"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port nobody listens on right now on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(settings: Settings) -> dict[str, str]:
    """The parent's environment without its clientvault settings, plus this installation's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTVAULT_")}
    env["CLIENTVAULT_ENV"] = "test"
    if settings.database.url:
        env["CLIENTVAULT_DATABASE__URL"] = settings.database.url
    if settings.keystore.url:
        env["CLIENTVAULT_KEYSTORE__URL"] = settings.keystore.url
    return env


@dataclass
class ServerProcess:
    """``clientvault serve`` in a subprocess: started, stopped, or killed like a real server."""

    settings: Settings
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until ``/healthz`` answers."""
        command = [
            str(CLIENTVAULT),
            "serve",
            "--data-dir",
            str(self.settings.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=server_environment(self.settings)
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                pytest.fail(f"the server exited at start:\n{self.log()}")
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"the server did not answer /healthz within {START_TIMEOUT_S} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, like a crash or an OOM kill."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        """A graceful stop (SIGTERM), escalating to SIGKILL if it takes too long."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True)
class Source:
    """A tracking source of one test, on the module's server."""

    name: str
    write_key: str
    url: str


def _pg_admin():  # type: ignore[no-untyped-def]
    assert PG_URL is not None
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sdk_installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A new installation for this module's server, on each available backend."""
    backend: str = request.param
    if backend == "postgresql" and not PG_URL:
        pytest.skip("CLIENTVAULT_TEST_PG_URL is not set")
    data_dir = tmp_path_factory.mktemp(f"sdk-{backend}")
    if backend == "sqlite":
        settings = Settings(env="test", data_dir=data_dir)
        initialise(settings).close()
        yield settings
        return
    suffix = uuid.uuid4().hex[:10]
    names = [f"cv_sdk_{suffix}", f"cv_sdk_{suffix}_keys"]
    admin = _pg_admin()
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [
        make_url(PG_URL)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
        for name in names
    ]
    settings = Settings(
        env="test",
        data_dir=data_dir,
        database=DatabaseSettings(url=urls[0]),
        keystore=KeystoreSettings(url=urls[1]),
    )
    try:
        initialise(settings).close()
        yield settings
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def sdk_server(sdk_installation: Settings) -> Iterator[ServerProcess]:
    """``clientvault serve`` on the module's installation, answering before tests run."""
    server = ServerProcess(sdk_installation, sdk_installation.data_dir / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sdk_store(sdk_installation: Settings) -> Iterator[Store]:
    """The module's installation, opened here to read what the server stored."""
    store = open_store(sdk_installation)
    yield store
    store.close()


@pytest.fixture
def source(sdk_server: ServerProcess, sdk_store: Store) -> Source:
    """A new tracking source (and its write key) for one test."""
    name = f"sdk-{uuid.uuid4().hex[:12]}"
    with sdk_store.sessions.begin() as session:
        write_key = create_source(session, name=name).write_key
    return Source(name=name, write_key=write_key, url=sdk_server.url)

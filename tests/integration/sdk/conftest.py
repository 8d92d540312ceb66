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
``sdk_clients`` (session)
    The folder of the JavaScript SDKs (``tests/sdk_clients``), installed by ``npm ci`` on
    first use (``support.sdk_clients``); skips the test when npm is absent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clientvault.ingest.sources import create_source
from clientvault.migrations.install import initialise
from clientvault.settings import DatabaseSettings, KeystoreSettings, Settings
from clientvault.store.context import Store, open_store
from support.postgres import PG_SKIP_REASON, PG_URL, create_pg_database, drop_pg_database
from support.sdk_clients import install_sdk_clients
from support.serving import ServerProcess


@dataclass(frozen=True)
class Source:
    """A tracking source of one test, on the module's server."""

    name: str
    write_key: str
    url: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sdk_installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A new installation for this module's server, on each available backend."""
    backend: str = request.param
    if backend == "postgresql" and not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    data_dir = tmp_path_factory.mktemp(f"sdk-{backend}")
    if backend == "sqlite":
        settings = Settings(env="test", data_dir=data_dir)
        initialise(settings).close()
        yield settings
        return
    suffix = uuid.uuid4().hex[:10]
    names = [f"cv_sdk_{suffix}", f"cv_sdk_{suffix}_keys"]
    urls = [create_pg_database(name) for name in names]
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
        for name in names:
            drop_pg_database(name)


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


@pytest.fixture(scope="session")
def sdk_clients() -> Path:
    """The JavaScript SDKs' folder, installed from the npm registry if needed."""
    return install_sdk_clients()

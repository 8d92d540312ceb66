"""A ``clientvault serve`` subprocess that can be SIGKILLed and restarted on the same data.

Fixtures:

``crash_server`` (function)
    A stopped ``CrashServer`` on a freshly initialised installation (``db_settings``:
    SQLite, and PostgreSQL when ``CLIENTVAULT_TEST_PG_URL`` is set), with ``write_key`` and
    ``source`` set. The test starts it, kills it with SIGKILL and restarts it as it likes,
    always on the same port and databases; whatever is left running is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clientvault.ingest.sources import create_source
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.serving import ServerProcess


@dataclass
class CrashServer(ServerProcess):
    """A ``ServerProcess`` that also knows the tracking source it is fed through."""

    write_key: str = ""
    source: str = "durability"


@pytest.fixture
def crash_server(db: Store, db_settings: Settings, tmp_path: Path) -> Iterator[CrashServer]:
    """A not-yet-started server on a fresh installation, with a source and its write key."""
    with db.sessions.begin() as session:
        write_key = create_source(session, name="durability").write_key
    server = CrashServer(db_settings, tmp_path / "server.log", write_key=write_key)
    try:
        yield server
    finally:
        server.stop()

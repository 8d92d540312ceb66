"""An HTTP client on the real app over a fresh installation, and a write key for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from clientvault.app import create_app
from clientvault.ingest.sources import create_source
from clientvault.settings import Settings
from clientvault.store.context import Store


@pytest.fixture
def client(db: Store, db_settings: Settings) -> Iterator[TestClient]:
    # https: the session cookie is Secure (and __Host-), so a client only sends it over TLS.
    with TestClient(
        create_app(db_settings, store=db), base_url="https://testserver"
    ) as test_client:
        yield test_client


@pytest.fixture
def write_key(db: Store) -> str:
    with db.sessions.begin() as session:
        return create_source(session, name="website").write_key

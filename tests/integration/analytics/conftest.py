"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientvault.settings import Settings


@pytest.fixture
def data_dir(db_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fresh installation's data directory, with its database URLs in the environment."""
    if db_settings.database.url:
        monkeypatch.setenv("CLIENTVAULT_DATABASE__URL", db_settings.database.url)
    if db_settings.keystore.url:
        monkeypatch.setenv("CLIENTVAULT_KEYSTORE__URL", db_settings.keystore.url)
    return db_settings.data_dir

"""Installations that back up to local directories of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientvault.security import audit
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.backups import with_backups
from support.privacy_core import DPO, make_customers, person, prepare


@pytest.fixture
def bk_settings(db_settings: Settings, tmp_path: Path) -> Settings:
    """The test installation's settings, with local data and keystore backup targets."""
    return with_backups(db_settings, tmp_path / "backups")


@pytest.fixture
def customers(db: Store) -> list:  # type: ignore[type-arg]
    """Four synthetic customers with sealed identifiers (holders loaded)."""
    prepare(db)
    made = make_customers(db, *(person(n) for n in range(1, 5)))
    with db.sessions.begin() as session:
        audit.record(session, principal=DPO, action="test.seen", target_ids=[str(made[0])])
    return made

"""The demo's backup step leaves a complete backup of each database and a passed drill."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clientvault.backup.catalogue import latest_complete, latest_drill
from clientvault.backup.targets import targets_for
from clientvault.demo.backup import show_backups
from clientvault.demo.showcase import STEPS
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.backups import remove_default_backups
from support.privacy_core import make_customers, person, prepare


@pytest.fixture(autouse=True)
def _no_backups_left(db_settings: Settings) -> Iterator[None]:
    """Default backup folders are in the data dir, shared on PostgreSQL: start and end empty."""
    remove_default_backups(db_settings)
    yield
    remove_default_backups(db_settings)


def test_the_demo_backs_up_and_drills(db: Store, db_settings: Settings) -> None:
    assert show_backups in STEPS
    prepare(db)
    make_customers(db, person(1))
    line = show_backups(db, db_settings)
    assert line.startswith("Backups:")
    for kind in ("data", "keystore"):
        assert latest_complete(targets_for(db_settings, kind), kind) is not None
    drill = latest_drill(targets_for(db_settings, "data"))
    if db_settings.database_url.startswith("sqlite"):
        assert drill is not None
        assert drill.ok, drill.problem
        assert "drill passed" in line
    else:
        assert drill is None
        assert "no drill" in line

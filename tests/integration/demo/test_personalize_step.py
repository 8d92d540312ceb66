"""The demo's personalisation step: a content slot and offers, made once."""

from __future__ import annotations

import pytest

from clientvault.automation.personalize import offers, slots
from clientvault.demo.generator import generate_demo
from clientvault.demo.personalize import seed_personalisation
from clientvault.demo.showcase import STEPS
from clientvault.settings import Settings
from clientvault.store.context import Store

# The step writes through the same services on both backends (tested there): SQLite only.
pytestmark = pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)


def test_the_demo_seeds_a_slot_and_offers_once(db: Store, db_settings: Settings) -> None:
    assert seed_personalisation in STEPS
    generate_demo(db, customers=40, seed=3, default_region="FR", parallel=False)
    line = seed_personalisation(db, db_settings)
    assert "slot 'homepage-hero'" in line
    assert "3 offers" in line  # the demo's orders give a best seller
    with db.sessions() as session:
        assert [s.key for s in slots.list_slots(session)] == ["homepage-hero"]
        assert {o.key for o in offers.list_offers(session)} == {
            "win-back-10",
            "trail-guide",
            "best-seller",
        }
    assert seed_personalisation(db, db_settings) == "Personalisation: slots exist already."

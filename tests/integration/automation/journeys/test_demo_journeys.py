"""The demo's showcase step for journeys: four valid, active journeys and their templates."""

from __future__ import annotations

from clientvault.automation.journeys import catalogue
from clientvault.demo.automation import JOURNEYS, showcase_journeys
from clientvault.demo.showcase import STEPS
from clientvault.privacy.purposes import ensure_default_purposes
from clientvault.settings import Settings
from clientvault.store.context import Store


def test_the_demo_showcases_the_four_journeys(db: Store, db_settings: Settings) -> None:
    assert showcase_journeys in STEPS
    with db.sessions.begin() as session:
        ensure_default_purposes(session)
    line = showcase_journeys(db, db_settings)
    assert line.startswith("journeys: 4 active")
    with db.sessions() as session:
        listed = {j.name: j.status for j in catalogue.list_journeys(session)}
        templates = {t.name for t in catalogue.list_templates(session)}
    assert listed == dict.fromkeys(JOURNEYS, "active")
    assert {"welcome", "cart", "birthday", "win-back"} <= templates

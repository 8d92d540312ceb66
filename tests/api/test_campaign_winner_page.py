"""A campaign that sends the winner to the rest, scheduled through the API: the decision
(winner and the figures it was chosen on) is shown by the API and the console's list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from clientvault.automation.journeys.campaigns import send_due_campaigns
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import ALWAYS, sign_up, template, winner_campaign
from support.staff import api_sign_in, bearer_headers


def test_the_winner_and_its_figures_are_shown(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("showing the decision does not depend on the database")
    template(db, "v1", subject="One", text="one", html="")
    template(db, "v2", subject="Two", text="two", html="")
    for n in range(4):
        sign_up(db, n)
    marketer = bearer_headers(db, db_settings, "marketer")
    spec = winner_campaign("Autumn", ("v1", "v2"), "opens", 1.5)
    bad = client.post("/api/v1/campaigns", json={**spec, "test_percent": 100}, headers=marketer)
    assert bad.status_code == 422
    made = client.post("/api/v1/campaigns", json=spec, headers=marketer)
    assert made.status_code == 201, made.text
    assert made.json()["test_percent"] == 50
    settings = db_settings.model_copy(update={"automation": ALWAYS})  # no SMTP: stays queued
    start = datetime.now(UTC)
    assert send_due_campaigns(db, settings, now=start) == 4
    (testing,) = client.get("/api/v1/campaigns", headers=marketer).json()
    assert testing["status"] == "testing"
    assert testing["winner_variant"] is None
    send_due_campaigns(db, settings, now=start + timedelta(hours=2))
    (decided,) = client.get("/api/v1/campaigns", headers=marketer).json()
    # No opens on either side: the tie goes to the variant sent to more testers (A, by the
    # quota's 2 A / 1 B of the three testers among four).
    assert decided["winner_variant"] == "A"
    assert decided["winner_decision"]["variants"] == {
        "A": {"sent": 2, "converted": 0, "rate": 0.0},
        "B": {"sent": 1, "converted": 0, "rate": 0.0},
    }
    assert decided["status"] == "sent"
    api_sign_in(client, "marketer@example.com")
    page = client.get("/console/campaigns")
    assert 'data-winner="A"' in page.text
    assert "A 0/2, B 0/1" in page.text

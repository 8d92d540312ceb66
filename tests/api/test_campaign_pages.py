"""The campaigns console pages: a marketer builds a cart-abandonment journey in the form
editor (no JSON), activates it, edits a template with its preview, and reads the funnel."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, advance_due
from clientvault.automation.journeys.models import Campaign, JourneyVersion
from clientvault.ingest import consumers
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import ALWAYS, sign_up, template, track
from support.staff import api_sign_in, create_staff

PASSWORD = "violet-harbour-tangent-quarry-47"


def _marketer(client: TestClient, db: Store, settings: Settings) -> str:
    with db.sessions.begin() as session:
        create_staff(
            session,
            settings,
            email="mk@example.com",
            role="marketer",
            password=PASSWORD,
            display_name="Marketer",
        ).user.must_change_password = False
    return api_sign_in(client, "mk@example.com", PASSWORD)["x-csrf-token"]


def test_a_marketer_builds_a_cart_journey_in_forms_and_sees_people_flow(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    csrf = _marketer(client, db, db_settings)
    assert 'href="/console/campaigns"' in client.get("/console").text  # the navigation lights up
    preview = client.post(
        "/console/campaigns/templates",
        data={
            "csrf_token": csrf,
            "name": "cart",
            "subject": "Your cart",
            "html": "<p>{{ customer.first_name }}</p>",
            "text": "{{ customer.first_name }}, come back",
            "do": "preview",
        },
    )
    assert "Ada, come back" in preview.text
    evil = client.post(
        "/console/campaigns/templates",
        data={
            "csrf_token": csrf,
            "name": "evil",
            "subject": "x",
            "html": "",
            "text": "{{ ''.__class__ }}",
            "do": "save",
        },
    )
    assert evil.status_code == 422
    assert "unsafe" in evil.text
    saved = client.post(
        "/console/campaigns/templates",
        data={
            "csrf_token": csrf,
            "name": "cart",
            "subject": "Your cart",
            "html": "",
            "text": "{{ customer.first_name }}, come back",
            "do": "save",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    form = {
        "csrf_token": csrf,
        "name": "Cart abandoned",
        "purpose": "marketing_email",
        "trigger_kind": "event_not_followed",
        "trigger_event": "Product Added",
        "trigger_unless": "Order Completed",
        "trigger_within_minutes": "120",
        "step_count": "0",
        "step-0-id": "remind",
        "step-0-type": "send_email",
        "step-0-template": "cart",
        "step-1-id": "",
        "reentry_mode": "once",
        "holdout_percent": "0",
    }
    broken = client.post(
        "/console/campaigns/journeys/new", data={**form, "step-0-type": "condition"}
    )
    assert broken.status_code == 422
    assert "step 1 (&#39;remind&#39;)" in broken.text
    made = client.post("/console/campaigns/journeys/new", data=form, follow_redirects=False)
    assert made.status_code == 303, made.text
    page_url = made.headers["location"]
    journey_id = page_url.rsplit("/", 1)[1]
    with db.sessions() as session:
        stored = session.scalar(select(JourneyVersion.definition))
    assert stored is not None
    assert stored["trigger"]["unless"] == "Order Completed"
    assert stored["steps"] == [
        {"id": "remind", "type": "send_email", "template": "cart", "label": ""}
    ]
    activated = client.post(
        f"/console/campaigns/journeys/{journey_id}/status",
        data={"csrf_token": csrf, "action": "activate"},
        follow_redirects=False,
    )
    assert activated.status_code == 303
    edit = client.get(f"/console/campaigns/journeys/{journey_id}/edit")
    assert 'value="Order Completed"' in edit.text

    sign_up(db, 1)
    track(db, "user-1", "Product Added")
    consumers.drain(db, JOURNEY_CONSUMER)
    advance_due(db, db_settings.model_copy(update={"automation": ALWAYS}))  # not due yet
    page = client.get(page_url)
    assert "data-status>active" in page.text
    assert "active 1" in page.text  # the test customer is in it, waiting for the delay
    listing = client.get("/console/campaigns")
    assert 'data-journey="Cart abandoned"' in listing.text
    assert 'data-table="campaigns"' in listing.text


def test_a_marketer_schedules_an_ab_campaign_with_a_winner_in_the_form(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    csrf = _marketer(client, db, db_settings)
    template(db, "spring-a", subject="Spring A")
    template(db, "spring-b", subject="Spring B")
    page = client.get("/console/campaigns/campaigns/new")
    assert page.status_code == 200
    assert '<option value="spring-b">' in page.text
    form = {
        "csrf_token": csrf,
        "name": "Spring sale",
        "purpose": "marketing_email",
        "filter_field": "country",
        "filter_value": "FR",
        "v0_name": "A",
        "v0_template": "spring-a",
        "v0_percent": "50",
        "v1_name": "B",
        "v1_template": "spring-b",
        "v1_percent": "60",
        "send_at": "2030-05-01T09:30",
        "test_percent": "20",
        "winner_metric": "clicks",
        "winner_after_hours": "6",
    }
    wrong = client.post("/console/campaigns/campaigns/new", data=form)
    assert wrong.status_code == 422
    assert "percents must add up to 100" in wrong.text
    assert 'value="Spring sale"' in wrong.text  # the form keeps what was typed
    done = client.post(
        "/console/campaigns/campaigns/new",
        data={**form, "v1_percent": "50"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    with db.sessions() as session:
        campaign = session.scalars(select(Campaign)).one()
    assert campaign.name == "Spring sale"
    assert campaign.filters == [{"field": "country", "op": "eq", "value": "FR"}]
    assert [(v["name"], v["template"], v["percent"]) for v in campaign.variants] == [
        ("A", "spring-a", 50),
        ("B", "spring-b", 50),
    ]
    assert campaign.send_at == datetime(2030, 5, 1, 9, 30, tzinfo=db_settings.zone)
    assert campaign.test_percent == 20
    assert campaign.winner_after_hours == 6
    assert "Spring sale" in client.get("/console/campaigns").text

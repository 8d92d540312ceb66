"""Personalised content in Debian chromium: a shop page with the snippet shows a known,
consenting visitor their variant and an anonymous visitor the default; a marketer makes a
slot and previews it in the console."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clientvault.automation.personalize import slots
from clientvault.customers.scores import Score, put_scores
from clientvault.ingest.models import Event
from clientvault.ingest.sources import create_source
from support.browser import html_app, sign_in_with_totp
from support.personalize import HERO, MARKETER, visitor

# The decision is tested on both backends over HTTP (tests/api/test_personalize_api.py); the
# browser adds the snippet and the console forms, which do not depend on the database.
pytestmark = [pytest.mark.web, pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)]


def _shop_html(server_url: str, write_key: str) -> str:
    return (
        "<!doctype html><html><head><title>Shop</title><link rel='icon' href='data:,'></head>"
        "<body><section data-cv-slot='homepage-hero'>"
        "<h1 data-cv-field='headline'>…</h1><p data-cv-field='body'></p></section>"
        f"<script src='{server_url}/t.js' data-write-key='{write_key}'></script>"
        "<script>addEventListener('load', function () {"
        " clientvault.personalize('homepage-hero'); });</script>"
        "</body></html>"
    )


def test_known_visitors_see_their_variant_and_anonymous_ones_the_default(
    browser: Any, page: Any, serve_app: Any, live_server: Any
) -> None:
    store = live_server.store
    customer = visitor(store, 1)
    with store.sessions.begin() as session:
        write_key = create_source(session, name="shop").write_key
        put_scores(session, "rfm_segment", [Score(customer, label="champions")], model_version="t")
        slots.save_slot(session, slots.read_spec(HERO), create=True, by=MARKETER)
    # Another origin than the server's 127.0.0.1: the snippet's calls are cross-origin.
    shop = serve_app(html_app(_shop_html(live_server.url, write_key))).replace(
        "127.0.0.1", "localhost"
    )
    shop += "/"

    page.context.add_cookies([{"name": "cv_aid", "value": "anon-1", "url": shop}])
    page.goto(shop)
    hero = page.locator("[data-cv-slot='homepage-hero']")
    expect(hero).to_have_attribute("data-cv-variant", "champions")
    expect(hero.locator("h1")).to_have_text("Thank you for being a champion")

    anonymous = browser.new_context()
    try:
        other = anonymous.new_page()
        other.goto(shop)
        expect(other.locator("[data-cv-slot='homepage-hero']")).to_have_attribute(
            "data-cv-variant", "default"
        )
        expect(other.locator("h1")).to_have_text("Welcome to the shop")
        expect(other.locator("p")).to_have_text("New arrivals every week")
    finally:
        anonymous.close()
    with store.sessions() as session:
        shown = [
            (e.customer_id, e.properties["variant"])
            for e in session.scalars(
                select(Event).where(Event.name == "Content Shown").order_by(Event.id)
            )
        ]
    assert shown == [(customer, "champions"), (None, "default")]


def test_a_marketer_makes_a_slot_and_previews_it(
    page: Any, live_server: Any, page_problems: Any
) -> None:
    customer = visitor(live_server.store, 2)
    with live_server.store.sessions.begin() as session:
        put_scores(session, "rfm_segment", [Score(customer, label="champions")], model_version="t")
    sign_in_with_totp(
        page, live_server, email="marketer@example.com", role="marketer", display_name="Mia"
    )
    page.get_by_role("navigation", name="Console").get_by_text("Personalisation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Personalisation")

    page_problems.expect_status(422, "/console/personalize/slots")
    form = page.locator("form[data-form='slot']")
    form.get_by_label("Key").fill("Bad Key")
    form.get_by_label("Key").evaluate("e => e.removeAttribute('pattern')")
    form.get_by_label("Headline").first.fill("Hello")
    form.get_by_role("button", name="Create slot").click()
    expect(page.get_by_role("alert")).to_contain_text("Key: String should match pattern")

    form = page.locator("form[data-form='slot']")
    form.get_by_label("Key").fill("homepage-hero")
    form.get_by_label("Headline").first.fill("Welcome")
    row = form.locator("[data-variant-row='0']")
    row.get_by_label("Name").fill("champions")
    row.get_by_label("Shown when").select_option("score")
    row.get_by_label("Segment or score").fill("rfm_segment=champions")
    row.get_by_label("Headline").fill("Thank you, champion")
    form.get_by_role("button", name="Create slot").click()
    expect(page.locator("tr[data-slot='homepage-hero']")).to_contain_text("champions: score")

    preview = page.locator("form[data-form='preview']")
    preview.get_by_label("Customer id").fill(str(customer))
    preview.get_by_role("button", name="Preview").click()
    expect(page.locator("[data-preview]")).to_contain_text(re.compile("champions.*score"))
    expect(page.locator("[data-preview-headline]")).to_have_text("Thank you, champion")

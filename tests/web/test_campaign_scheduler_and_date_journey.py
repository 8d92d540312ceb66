"""In a browser: a marketer schedules a campaign in the console's scheduler and sees it listed,
then builds a win-back journey in the form editor (a date trigger 30 days after the last
order, a step adding to a static segment), the editor naming the faulty step first."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from clientvault.segments.service import SegmentIn, save_segment
from support.browser import sign_in_as_marketer
from support.journeys import MARKETER, sign_up, template

pytestmark = pytest.mark.web


def test_a_marketer_schedules_a_campaign_and_builds_a_win_back_journey(
    page: Any, live_server: Any, page_problems: Any
) -> None:
    store = live_server.store
    sign_up(store, 1)  # the purposes exist
    template(store, "spring", subject="Spring is here", text="Hello {{ customer.first_name }}")
    with store.sessions.begin() as session:
        save_segment(
            session,
            SegmentIn(
                slug="lapsed",
                name="Lapsed",
                kind="static",
                rules={"type": "attribute", "field": "city", "values": ["Nowhere"]},
            ),
            principal=MARKETER,
            zone="UTC",
        )
    sign_in_as_marketer(page, live_server)

    page.goto("/console/campaigns/campaigns/new")
    page.locator("#name").fill("Spring sale")
    page.locator("#v0_template").select_option("spring")
    page.get_by_label("Send at").fill("2099-06-01T09:00")
    page.get_by_role("button", name="Schedule").click()
    row = page.locator('[data-campaign="Spring sale"]')
    expect(row).to_contain_text("scheduled")
    expect(row).to_contain_text("A (spring, 100 %)")

    page.goto("/console/campaigns/journeys/new")
    page.get_by_label("Name", exact=True).fill("Win back")
    page.get_by_label("Kind").select_option("date")
    page.get_by_label("Date", exact=True).select_option("last_order")
    page.get_by_label("Days after the date").fill("30")
    page.get_by_label("At hour").fill("10")
    page.locator("#step-0-id").fill("tag")
    page.locator("#step-0-type").select_option("add_to_segment")
    page.locator("#step-0-segment").fill("nobody-here")
    page.locator("#step-1-id").fill("mail")
    page.locator("#step-1-type").select_option("send_email")
    page.locator("#step-1-template").fill("spring")
    page_problems.expect_status(422, "/console/campaigns/journeys/new")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Step 1 ('tag'): segment: no segment 'nobody-here'"
    )
    # The form comes back as it was filled: only the segment needs fixing.
    expect(page.get_by_label("Date", exact=True)).to_have_value("last_order")
    page.locator("#step-0-segment").fill("lapsed")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Win back")
    expect(page.locator("[data-trigger-text]")).to_have_text(
        "30 days after the customer's last order, at 10:00 in the customer's time zone; "
        "once per last-order date."
    )
    expect(page.locator('[data-step="tag"]')).to_contain_text("Add to the static segment lapsed")
    expect(page.locator('[data-step="mail"]')).to_contain_text("Send the e-mail 'spring'")

"""In a browser: a marketer builds the cart-abandonment journey in the console's form editor
(no JSON), activates it, and sees a test customer flow into it on the journey page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from clientvault.automation.journeys.engine import JOURNEY_CONSUMER
from clientvault.ingest import consumers
from support.browser import sign_in_as_marketer
from support.journeys import sign_up, template, track

pytestmark = pytest.mark.web


def test_a_marketer_builds_the_cart_journey_and_sees_a_customer_enter(
    page: Any, live_server: Any
) -> None:
    store = live_server.store
    template(store, "cart", text="{{ customer.first_name }}, your cart is waiting", html="")
    sign_in_as_marketer(page, live_server)

    page.get_by_role("navigation", name="Console").get_by_text("Campaigns & workflows").click()
    page.get_by_role("link", name="New journey").click()
    page.get_by_label("Name", exact=True).fill("Cart abandoned")
    page.get_by_label("Kind").select_option("event_not_followed")
    page.get_by_label("Event", exact=True).fill("Product Added")
    page.get_by_label("…not followed by").fill("Order Completed")
    page.get_by_label("…within (minutes)").fill("120")
    page.locator("#step-0-id").fill("remind")
    page.locator("#step-0-type").select_option("send_email")
    page.locator("#step-0-template").fill("cart")
    page.get_by_label("Goal event").fill("Order Completed")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cart abandoned")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("[data-status]")).to_have_text("active")

    sign_up(store, 1, first_name="Tess")
    track(store, "user-1", "Product Added", {"sku": "A-1"})
    consumers.drain(store, JOURNEY_CONSUMER)  # what the server's worker does within seconds
    page.reload()
    expect(page.get_by_text("active 1")).to_be_visible()  # Tess waits out the 120 minutes

"""The console's layout in a real browser: Overview, navigation, 404 page, narrow screens."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert

from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.web.navigation import NAVIGATION
from support.staff import create_staff

pytestmark = pytest.mark.web

NAV_LABELS = [entry.label for entry in NAVIGATION if not entry.hidden_unless_available]
SUB_LABELS = [child.label for entry in NAVIGATION for child in entry.children]
#: Pages that exist but a marketer may not open: left out of their navigation.
NOT_FOR_MARKETERS = [
    "Identity review",
    "Import customers",  # customers:write
    "Users & roles",
    "Audit log",
    "Alerts",
    "Scheduled jobs",
    "Privacy",
    "Consents",
    "Data-subject requests",
    "Records of processing",
    "Breaches",
    "Settings",
    "Support",
    "Knowledge base",
    "Agents",
    "Fraud review",
    "Backups",
]
PASSWORD = "violet-harbour-tangent-quarry-47"


@pytest.fixture
def page(page, live_server):
    """The harness's page, signed in as a marketer (the Overview needs customers:read)."""
    with live_server.store.sessions.begin() as session:
        create_staff(
            session,
            live_server.settings,
            email="marketer@example.com",
            role="marketer",
            password=PASSWORD,
            display_name="Mia Marketer",
        )
    page.goto("/console/login")
    page.get_by_label("E-mail").fill("marketer@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.wait_for_load_state("networkidle")  # an aborted favicon request fails the test
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    page.wait_for_load_state("networkidle")
    return page


def test_overview_renders_with_navigation(page):
    response = page.goto("/console")

    assert response is not None
    assert response.status == 200
    expect(page).to_have_title("Overview · clientvault")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    nav = page.get_by_role("navigation", name="Console")
    for label in [*NAV_LABELS, *SUB_LABELS]:
        if label not in NOT_FOR_MARKETERS:
            expect(nav.locator("a", has_text=label).first).to_be_visible()
    expect(nav.locator('a[aria-current="page"]')).to_have_text("Overview")
    expect(page.locator("header .user")).to_contain_text("Mia Marketer")
    # The stylesheet and the script (a static file, never inline) both took effect.
    expect(page.locator("html")).to_have_class("js")
    assert page.locator(".sidebar").evaluate("e => getComputedStyle(e).width") == "288px"


def test_pages_not_built_yet_are_marked_and_not_followable(page):
    """Every domain's page is built; only the Security section's own overview page is not,
    and its entry is marked "Soon": greyed, aria-disabled, out of the tab order, and a click
    on it goes nowhere."""
    page.goto("/console")
    overview_url = page.url
    soon = page.get_by_role("navigation", name="Console").locator("a.soon")
    expect(soon).to_have_count(1)
    expect(soon).to_have_text(re.compile("Security"))
    expect(soon).to_have_attribute("aria-disabled", "true")
    expect(soon).to_have_attribute("tabindex", "-1")
    expect(soon.locator(".soon-badge")).to_have_text("Soon")
    soon.click(force=True)  # pointer-events: none, so the click lands on what lies beneath
    soon.dispatch_event("click")  # a click on the link itself: console.js cancels it
    page.wait_for_load_state("networkidle")
    assert page.url == overview_url


def test_overview_counts_what_the_database_holds(page, live_server):
    now = datetime.now(UTC)
    customer_id = uuid.uuid4()
    with live_server.store.sessions() as session, session.begin():
        session.add(Customer(id=customer_id, country="FR"))
        session.flush()
        session.execute(
            insert(Event),
            [
                {
                    "message_id": f"msg-{n}",
                    "type": "track",
                    "name": "Page Viewed",
                    "customer_id": customer_id,
                    "occurred_at": now,
                }
                for n in range(1234)
            ],
        )
        session.add(
            Order(external_id="o-1", customer_id=customer_id, placed_at=now, total=Decimal("9.90"))
        )

    page.goto("/console")

    expect(page.locator('[data-stat="customers"] .stat-value')).to_have_text("1")
    expect(page.locator('[data-stat="events"] .stat-value')).to_have_text("1,234")
    expect(page.locator('[data-stat="orders"] .stat-value')).to_have_text("1")
    expect(page.get_by_role("heading", name="No customer data yet")).to_have_count(0)


def test_empty_installation_explains_how_to_start(page):
    page.goto("/console")

    for stat in ("customers", "events", "orders"):
        expect(page.locator(f'[data-stat="{stat}"] .stat-value')).to_have_text("0")
    expect(page.get_by_role("heading", name="No customer data yet")).to_be_visible()
    page.get_by_role("link", name="API reference").first.click()
    expect(page).to_have_url(re.compile(r"/api/docs$"))


def test_unknown_console_path_gives_the_styled_404(page, page_problems):
    page_problems.expect_status(404, "/console/no-such-page")

    response = page.goto("/console/no-such-page")

    assert response is not None
    assert response.status == 404
    expect(page).to_have_title("Page not found · clientvault")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.locator(".empty-state code")).to_have_text("/console/no-such-page")
    expect(page.get_by_role("navigation", name="Console")).to_be_visible()
    page.get_by_role("link", name="Back to the Overview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_narrow_screen_folds_the_navigation_behind_a_menu_button(page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console")
    toggle = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Console")

    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll

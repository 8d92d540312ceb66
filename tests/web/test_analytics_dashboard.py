"""The analytics dashboard in Debian's chromium: its plotly charts render under the console's
Content-Security-Policy without console errors, changing the date range or the segment changes
the numbers, and an experiment's page shows its interval and SRM status."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert

from clientvault.analytics import experiments
from clientvault.ingest.models import Event
from clientvault.store.base import utcnow
from support.analytics_history import A, B, C, D, X, at, exposures, load, load_browsers
from support.browser import sign_in_as_dpo

pytestmark = pytest.mark.web


def test_dashboard_charts_date_range_and_an_experiment(page: Any, live_server: Any) -> None:
    # plotly.min.js is 4.6 MB: on a loaded 2-core machine, loading it takes more than 10 s.
    page.set_default_timeout(45_000)
    load(live_server.store)
    _clicks(live_server)
    sign_in_as_dpo(page, live_server)
    page.goto("/console/analytics?from=2026-03-01&to=2026-03-31&grain=week")
    for chart in ("series", "funnel", "lifecycle", "cohort-revenue", "heatmap", "scroll"):
        expect(page.locator(f'[data-chart="{chart}"]')).to_have_attribute("data-drawn", "true")
    expect(page.locator('[data-chart="series"] .main-svg').first).to_be_visible()
    visitors = page.locator('[data-kpi="visitors"] .stat-value')
    expect(visitors).to_have_text("5")
    page.get_by_label("From").fill("2026-03-10")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"from=2026-03-10"))
    expect(visitors).to_have_text("4")  # A, B, C, D; X was only seen on the 6th
    expect(page.locator('[data-chart="funnel"]')).to_have_attribute("data-drawn", "true")
    # A segment: five browsers (viewed and added on the 10th) — every chart counts them only.
    load_browsers(live_server.store)
    page.goto("/console/analytics?from=2026-03-01&to=2026-03-31&grain=week")
    expect(visitors).to_have_text("10")
    page.get_by_label("Segment").select_option(label="Browsers")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"segment=browsers"))
    expect(visitors).to_have_text("5")
    expect(page.locator("#paths-heading")).to_contain_text("Browsers")
    expect(page.locator('[data-table="paths"]')).to_contain_text("Product Added")
    expect(page.locator('[data-chart="lifecycle"]')).to_have_attribute("data-drawn", "true")
    # An experiment's page: its interval and SRM status.
    _experiment(live_server)
    # Paths after the exposure: 30 people signed up (a group big enough to be shown).
    page.goto("/console/analytics?path_event=Experiment+Viewed")
    expect(page.locator('[data-chart="paths"]')).to_have_attribute("data-drawn", "true")
    expect(page.locator('[data-table="paths"]')).to_contain_text("Signed Up")
    page.get_by_role("link", name="Hero image").click()
    expect(page.locator("[data-srm]")).to_have_attribute("data-srm", "ok")
    expect(page.locator('[data-variant="photo"] [data-interval]')).to_contain_text("[")
    expect(page.locator('[data-chart="experiment"]')).to_have_attribute("data-drawn", "true")


def _clicks(live_server: Any) -> None:
    """Five of March's visitors click the same spot of /home on 6 March, and scroll it (20 %,
    40 % … 100 % down)."""
    rows = []
    for n, who in enumerate((A, B, C, D, X)):
        when = at(f"03-06 1{n}:00")
        rows.append(
            {
                "message_id": f"click{n}",
                "type": "track",
                "name": "Element Clicked",
                "customer_id": None if who == X else who,
                "anonymous_index": X if who == X else None,
                "occurred_at": when,
                "received_at": when,
                "source": "web",
                "context": {},
                "properties": {
                    "x": 0.5,
                    "y": 0.2,
                    "path": "/home",
                    "element": "#buy",
                    "viewport": {"width": 1280, "height": 800},
                },
            }
        )
        rows.append(
            {
                **rows[-1],
                "message_id": f"scroll{n}",
                "name": "Page Scrolled",
                "properties": {
                    "depth": 20 * (n + 1),
                    "path": "/home",
                    "viewport": {"width": 1280, "height": 800},
                },
            }
        )
    with live_server.store.sessions.begin() as session:
        session.execute(insert(Event), rows)


def _experiment(live_server: Any) -> None:
    """An experiment with 60 exposures to control (10 sign-ups) and 50 to the photo (20)."""
    with live_server.store.sessions.begin() as session:
        experiments.create(
            session,
            key="hero",
            name="Hero image",
            variants=[("control", 1), ("photo", 1)],
            goal={"kind": "event", "event": "Signed Up"},
        )
    start = utcnow() + timedelta(seconds=1)
    rows = exposures("hero", [("control", 60, 10), ("photo", 50, 20)], start)
    with live_server.store.sessions.begin() as session:
        session.execute(insert(Event), rows)

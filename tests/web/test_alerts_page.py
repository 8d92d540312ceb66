"""The access alerts page in Debian's chromium: a DPO sees an alert and acknowledges it.

The page's rules (permission, CSRF) are checked over HTTP in ``tests/api/test_alerts_api.py``;
here, that the page renders under the Content-Security-Policy without console errors and that
its form works in a real browser.
"""

from __future__ import annotations

import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from clientvault.security import audit
from clientvault.security.alerts import detection
from clientvault.security.principal import Principal
from support.alert_policy import at_any_hour
from support.staff import create_staff, enrol_totp

pytestmark = pytest.mark.web

STRONG = "violet-harbour-tangent-quarry-47"


def _sign_in_as_dpo(page: Any, live_server: Any) -> None:
    with live_server.store.sessions.begin() as session:
        user = create_staff(
            session,
            live_server.settings,
            email="dpo@example.com",
            role="dpo",
            password=STRONG,
            display_name="Dana Dpo",
        ).user
        user.must_change_password = False
        secret = enrol_totp(session, live_server.store.keystore, user)
    page.goto("/console/login")
    page.get_by_label("E-mail").fill("dpo@example.com")
    page.get_by_label("Password").fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code", exact=True).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_dpo_sees_and_acknowledges_an_alert(page: Any, live_server: Any) -> None:
    exporter = Principal.user(uuid.uuid4(), role="marketer", permissions=frozenset())
    with live_server.store.sessions.begin() as session:
        audit.record(
            session,
            principal=exporter,
            action="pii.export",
            target_type="customer",
            target_ids=[str(uuid.uuid4()) for _ in range(12)],
            reason="agency",
        )
    detection.drain(live_server.store, policy=at_any_hour(live_server.settings.security))
    _sign_in_as_dpo(page, live_server)

    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    row = page.locator("tr[data-kind='bulk_export']")
    expect(row).to_contain_text("Export of 12 records (pii.export).")
    expect(row).to_contain_text("Audit entries 12")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("The alert was acknowledged.")
    expect(page.locator("tr[data-kind='bulk_export']")).to_have_count(0)
    page.get_by_label("Status").select_option("all")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-kind='bulk_export']")).to_contain_text("acknowledged")
    page.wait_for_load_state("networkidle")

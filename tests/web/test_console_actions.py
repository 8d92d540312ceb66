"""In Debian's chromium: an administrator creates a write key in Settings and a website sends
an event with it; then, on the 360° page of the customer it created, downloads the export and
erases the customer, confirming, and reads the certificate."""

from __future__ import annotations

import base64
import json
import urllib.request
import zipfile
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clientvault.identity.models import Customer
from support.browser import sign_in_with_totp

pytestmark = pytest.mark.web


def _identify(base_url: str, write_key: str) -> int:
    body = {"userId": "web-42", "traits": {"email": "rosa@example.com", "tags": ["vip", "eu"]}}
    request = urllib.request.Request(
        f"{base_url}/v1/identify",
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_admin_makes_a_write_key_then_exports_and_erases_a_customer(
    page: Any, live_server: Any, page_problems: Any, tmp_path: Any
) -> None:
    sign_in_with_totp(
        page, live_server, email="admin@example.com", role="admin", display_name="Ada Admin"
    )
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    page.get_by_label("Name", exact=True).fill("website")
    page.get_by_role("button", name="Create source").click()
    key = page.locator("#new-write-key").inner_text()
    assert key.startswith("cvwk_")
    assert _identify(live_server.url, key) == 200

    page.goto("/console/settings")
    row = page.locator("tr[data-source='website']")
    expect(row.locator("[data-events]")).to_have_text("1")
    expect(page.locator("main")).not_to_contain_text(key)  # shown once only
    with live_server.store.sessions() as session:
        customer_id = session.scalars(select(Customer.id)).one()

    page.goto(f"/console/customers/{customer_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer 360°")
    expect(page.locator("tr[data-trait='tags'] li.chip")).to_have_text(["vip", "eu"])
    page_problems.expect_download(f"/console/customers/{customer_id}/export")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download export (zip)").click()
    saved = tmp_path / "export.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert "rosa@example.com" in archive.read("export.json").decode()

    page.get_by_role("link", name="Erase this customer…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erase customer")
    page.get_by_label("Type ERASE to confirm").fill("ERASE")
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erasure certificate")
    expect(page.locator("[data-table='certificate']")).to_contain_text(str(customer_id))
    page.wait_for_load_state("networkidle")
    with live_server.store.sessions() as session:
        gone = session.get(Customer, customer_id)
        assert gone is None or gone.status == "erased"

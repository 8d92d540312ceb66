"""Importing customers from the console in Debian's chromium: the upload becomes a
background job whose page follows its progress, then offers the error report as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from clientvault.identity.models import Customer
from support.browser import sign_in_with_totp

pytestmark = pytest.mark.web

CSV = (
    "id,email,first_name,phone,city\n"
    "c-1,ann@example.com,Ann,0612345678,Paris\n"
    "c-2,not-an-address,Bob,,Lyon\n"
    "c-3,cy@example.com,Cy,,Nice\n"
)


def test_an_upload_runs_in_the_background_and_its_error_report_downloads(
    page: Any, live_server: Any, tmp_path: Path
) -> None:
    sign_in_with_totp(
        page, live_server, email="admin@example.com", role="admin", display_name="Ada Admin"
    )
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="Import customers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import customers")
    page.wait_for_load_state("networkidle")
    upload = tmp_path / "spring customers.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_label("Source name").fill("spring-fair")
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Import of spring customers.csv")
    # The page follows the job by itself (console.js polls its status) until it is done.
    expect(page.get_by_role("status")).to_contain_text("The import is done.", timeout=20_000)
    page.wait_for_load_state("networkidle")
    counts = page.locator("[data-table='counts']")
    expect(counts.locator("[data-field='accepted']")).to_have_text("2")
    expect(counts.locator("[data-field='rejected']")).to_have_text("1")
    with page.expect_download() as download_info:
        page.locator("[data-report]").click()
    report = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert report.splitlines()[1].startswith("2,3,traits.email: invalid e-mail address")
    assert "not-an-address" not in report
    with live_server.store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 2

    page.get_by_role("link", name="Import customers").first.click()
    row = page.locator("table[data-table='imports'] tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-state", "done")
    expect(row).to_contain_text("source spring-fair")
    page.wait_for_load_state("networkidle")

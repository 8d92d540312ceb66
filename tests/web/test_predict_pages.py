"""The predictions' console pages in Debian chromium: the registry shows a trained model's
metrics and its reliability chart; the fraud queue shows each order's reasons and takes a
reviewer's verdict."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from clientvault.predict import fraud
from clientvault.predict.tasks import train_task
from support.browser import sign_in_with_totp
from support.predict import END, make_shop

# The pages render what the services return, tested on both backends in
# tests/integration/predict and tests/api/test_predict_api.py: the browser runs on SQLite.
pytestmark = [pytest.mark.web, pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)]


def test_models_page_and_fraud_queue(page: Any, live_server: Any) -> None:
    store = live_server.store
    make_shop(store, customers=240, days=240)
    with store.sessions.begin() as session:
        version = train_task(session, "churn", end=END).model.version
        fraud.score_orders(session)
    sign_in_with_totp(page, live_server, email="admin@example.com", role="admin", display_name="A")

    page.goto("/console/predict/models")
    row = page.locator(f"tr[data-model='{version}']")
    expect(row).to_contain_text("AUC 0.")
    expect(row).to_have_attribute("data-status", "promoted")
    expect(page.locator("svg[data-chart='reliability']")).to_be_visible()
    expect(page.locator("table[data-table='reliability'] tbody tr").first).to_be_visible()

    page.goto("/console/predict/fraud")
    first = page.locator("tr[data-order]").first
    expect(first.locator("ul.reasons li").first).not_to_be_empty()
    order = first.get_attribute("data-order")
    first.get_by_role("button", name="Legitimate").click()
    expect(page.locator(f"tr[data-order='{order}']")).to_have_count(0)

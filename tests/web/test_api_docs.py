"""The OpenAPI docs page renders offline in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.web


def test_api_docs_render_and_list_the_health_operation(page):
    response = page.goto("/api/docs")

    assert response is not None
    assert response.status == 200
    operation = page.locator('.opblock-summary-path[data-path="/healthz"]')
    expect(operation).to_be_visible()
    expect(page.locator(".opblock-get", has=operation)).to_be_visible()

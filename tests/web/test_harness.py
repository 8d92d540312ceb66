"""The browser harness itself: the page fixture records what goes wrong and honours what a
test says to expect; serve_app serves any ASGI app."""

from __future__ import annotations

import httpx2
import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.web


def _is_error(message):
    return message.type == "error"


def test_page_problems_are_recorded(page, page_problems):
    page.goto("/console")

    with page.expect_console_message(_is_error):
        page.evaluate("console.error('provoked console error')")
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => { throw new Error('provoked page error') }, 0)")
    with page.expect_console_message(lambda message: "404" in message.text):
        page.evaluate("fetch('/static/no-such-file.css').catch(() => {})")

    seen = "\n".join(page_problems.seen)
    assert "console error: provoked console error" in seen
    assert "uncaught page error: provoked page error" in seen
    assert "HTTP 404: GET" in seen
    assert "/static/no-such-file.css" in seen
    page_problems.seen.clear()  # provoked on purpose: the teardown verdict must not see them


def test_expected_statuses_are_not_problems(page, page_problems):
    page_problems.expect_status(404, "/static/no-such-file.css")
    page.goto("/console")

    with page.expect_console_message(lambda message: "404" in message.text):
        status = page.evaluate("fetch('/static/no-such-file.css').then(r => r.status)")

    assert status == 404
    assert page_problems.seen == []


def test_serve_app_serves_any_asgi_app(serve_app):
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    url = serve_app(app)

    assert httpx2.get(f"{url}/ping").json() == {"pong": "yes"}

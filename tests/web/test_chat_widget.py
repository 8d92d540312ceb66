"""The support chat widget in Debian chromium, on a shop page with a strict Content-Security-
Policy: a knowledge-base question is answered; another is handed over to a person after the
visitor gives an e-mail, and a chat ticket holds the transcript. No CSP violation, no error."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from clientvault.demo.support import kb_articles
from clientvault.ingest.sources import create_source
from clientvault.support import kb
from clientvault.support.models import Ticket, TicketMessage

pytestmark = pytest.mark.web


def _shop(serve_app: Any, server_url: str, write_key: str) -> str:
    csp = (
        f"default-src 'none'; script-src {server_url}; connect-src {server_url}; "
        "style-src 'none'; img-src data:"
    )
    html = (
        "<!doctype html><html lang='en'><head><title>Shop</title>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\"></head><body>"
        "<h1>Shop</h1>"
        f"<script src='{server_url}/chat.js' data-write-key='{write_key}'></script>"
        "</body></html>"
    ).encode()

    async def shop_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": html})

    return serve_app(shop_app).replace("127.0.0.1", "localhost") + "/"


def test_a_visitor_gets_an_answer_then_a_person(
    page: Any, serve_app: Any, live_server: Any
) -> None:
    with live_server.store.sessions.begin() as session:
        write_key = create_source(session, name="shop").write_key
        kb.seed_articles(session, kb_articles())
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(_shop(serve_app, live_server.url, write_key))
    page.wait_for_function("window.clientvaultChat !== undefined")

    page.get_by_role("button", name="Need help?").click()
    question = page.get_by_role("textbox", name="Your question")
    question.fill("how can I send back a product I bought?")
    question.press("Enter")
    log = page.get_by_role("log")
    log.get_by_text("30 days").wait_for()

    question.fill("do you sell electric bikes")
    question.press("Enter")
    email = page.get_by_label("Your e-mail, so that we can answer:")
    email.fill("widget.visitor@example.com")
    email.press("Enter")
    log.get_by_text("a person will answer you soon").wait_for()
    assert problems == []

    deadline = time.monotonic() + 5
    while True:
        with live_server.store.sessions() as session:
            found = session.scalars(select(Ticket).where(Ticket.channel == "chat")).all()
            authors = list(session.scalars(select(TicketMessage.author).order_by(TicketMessage.id)))
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(found) == 1
    assert authors[:2] == ["customer", "bot"]
    assert authors.count("customer") == 2  # both questions are in the transcript

"""Support end to end in Debian chromium: a visitor on a shop page with the chat snippet (and a
strict Content-Security-Policy) asks the widget a knowledge-base question and gets the
answer, asks something else and is handed over to a person after giving an e-mail; the agent,
signed in to the console, finds the chat ticket in their queue, opens the transcript and the
customer card with a reason, replies and resolves it; the satisfaction survey reaches a real
SMTP server on loopback, and its link records the customer's score on the ticket."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clientvault.demo.support import kb_articles
from clientvault.ingest.sources import create_source
from clientvault.messaging import delivery
from clientvault.security.models import User
from clientvault.support import kb
from clientvault.support.agents import AgentProfile, set_agent
from clientvault.support.models import Ticket
from support.browser import html_app, sign_in_with_totp
from support.mailbox import smtp_server, text_of
from support.privacy import smtp_to
from support.privacy_core import prepare

pytestmark = pytest.mark.web

VISITOR = "widget.visitor@example.com"
AGENT = "sam.agent@example.com"


def _shop(serve_app: Any, server_url: str, write_key: str) -> str:
    """A shop page on another origin with the chat snippet and a strict CSP."""
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
    )
    return serve_app(html_app(html)).replace("127.0.0.1", "localhost") + "/"


def _visitor_is_handed_over(page: Any, shop_url: str) -> None:
    page.goto(shop_url)
    page.wait_for_function("window.clientvaultChat !== undefined")
    page.get_by_role("button", name="Need help?").click()
    question = page.get_by_role("textbox", name="Your question")
    question.fill("how can I send back a product I bought?")
    question.press("Enter")
    log = page.get_by_role("log")
    log.get_by_text("30 days").wait_for()  # the return policy article's answer

    question.fill("do you sell electric bikes")
    question.press("Enter")
    email = page.get_by_label("Your e-mail, so that we can answer:")
    email.fill(VISITOR)
    email.press("Enter")
    log.get_by_text("a person will answer you soon").wait_for()


def status(page: Any, text: str) -> Any:
    """The page's status message containing ``text`` (a ticket page may show two)."""
    return page.get_by_role("status").filter(has_text=text)


def _chat_ticket(live_server: Any) -> Ticket:
    """The chat ticket, polled for with a deadline (the hand-over answer comes after its
    transaction committed, but the widget's text is not a database signal)."""
    deadline = time.monotonic() + 5
    while True:
        with live_server.store.sessions() as session:
            found = session.scalar(select(Ticket).where(Ticket.channel == "chat"))
        if found is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found is not None, "the hand-over opened no ticket"
    return found


def test_a_chat_goes_from_the_widget_to_an_agent_and_ends_with_a_survey(
    page: Any, serve_app: Any, live_server: Any, page_problems: Any
) -> None:
    store, settings = live_server.store, live_server.settings
    if store.engine.dialect.name != "sqlite":
        # Every step's service is tested on both backends (tests/integration/support,
        # tests/api/test_support_api.py); the browser story does not depend on the database.
        pytest.skip("the browser story does not depend on the database")
    prepare(store)
    with store.sessions.begin() as session:
        write_key = create_source(session, name="shop").write_key
        kb.seed_articles(session, kb_articles())
    sign_in_with_totp(page, live_server, email=AGENT, role="support", display_name="Sam Agent")
    with store.sessions.begin() as session:
        agent_id = session.scalar(select(User.id).where(User.email == AGENT))
        assert agent_id is not None
        set_agent(
            session,
            user_id=agent_id,
            profile=AgentProfile(languages=("en",), start_hour=0, end_hour=24, weekdays="1234567"),
        )

    visitor = page.context.new_page()  # the visitor's tab; the agent's stays signed in
    visitor.on("console", page_problems.on_console)  # watched like the agent's
    visitor.on("pageerror", page_problems.on_page_error)
    visitor.on("response", page_problems.on_response)
    _visitor_is_handed_over(visitor, _shop(serve_app, live_server.url, write_key))
    visitor.close()
    ticket = _chat_ticket(live_server)
    assert ticket.assigned_agent_id == agent_id

    page.get_by_role("link", name="Support", exact=True).first.click()
    row = page.locator(f"tr[data-ticket='{ticket.id}']")
    expect(row).to_contain_text("chat")
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ticket")
    expect(status(page, "Verify before discussing anything personal")).to_be_visible()
    card = page.locator("section[aria-labelledby='card-heading']")
    expect(card).not_to_contain_text(VISITOR)  # masked until a reason is given
    page.get_by_label("Reason to open the conversation and identifiers").fill("answering the chat")
    page.get_by_role("button", name="Open", exact=True).click()
    transcript = page.locator("ol.conversation")
    expect(transcript.locator("li.message-customer")).to_have_count(2)
    expect(transcript.locator("li").nth(0)).to_have_class(re.compile(r"\bmessage-customer\b"))
    expect(transcript.locator("li").nth(1)).to_have_class(re.compile(r"\bmessage-bot\b"))
    expect(transcript).to_contain_text("how can I send back a product I bought?")
    expect(transcript).to_contain_text("do you sell electric bikes")
    expect(transcript.locator("li.message-bot").first).to_contain_text("30 days")
    expect(page.locator("section[aria-labelledby='card-heading']")).to_contain_text(VISITOR)

    page.get_by_label("Reply").fill("We do not sell electric bikes yet, sorry!")
    page.get_by_role("button", name="Send reply").click()
    expect(status(page, "Your reply was added.")).to_be_visible()
    page.get_by_role("button", name="Resolve").click()
    expect(status(page, "The ticket is resolved")).to_be_visible()

    with smtp_server() as mailbox:
        delivery.drain(store, smtp_to(settings, mailbox.host, mailbox.port))
    [survey] = mailbox.to(VISITOR)
    assert survey["Subject"] == "How did we do?"
    found = re.search(r"https?://\S+/support/csat\?\S+&score=5", text_of(survey))
    assert found is not None, "no score link in the survey"
    link = urlsplit(found.group(0))
    page.goto(f"{link.path}?{link.query}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Thank you")
    with store.sessions() as session:
        answered = session.get(Ticket, ticket.id)
        assert answered is not None
        assert (answered.status, answered.csat_score) == ("resolved", 5)
    page.wait_for_load_state("networkidle")

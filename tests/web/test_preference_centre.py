"""The preference centre and the DPO's requests page in Debian's chromium.

A data subject follows the preference-centre link of an e-mail received by a real SMTP
server, withdraws a consent, downloads their data and asks for erasure; the DPO then signs
in and finds the erasure request with its due date.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from clientvault.messaging import delivery
from clientvault.migrations.schema import load_holders
from clientvault.privacy import consent
from clientvault.privacy.deadlines import due_on
from clientvault.privacy.records import ensure_default_records
from clientvault.privacy.requests import lifecycle
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow
from support.browser import sign_in_as_dpo
from support.mailbox import link_in, smtp_server
from support.privacy import add_customer, smtp_to

pytestmark = pytest.mark.web

DPO = Principal.user(uuid.uuid4(), role="dpo", permissions=frozenset({"privacy:manage"}))


def _preference_link(live_server: Any) -> str:
    """A customer with two consents, who wrote in with an objection: the receipt e-mail
    (delivered over SMTP) carries their preference-centre link."""
    store, settings = live_server.store, live_server.settings
    customer_id = add_customer(store, email="mary@example.com")
    with store.sessions.begin() as session:
        for purpose in ("marketing_email", "personalisation"):
            consent.record_decision(
                session,
                customer_id=customer_id,
                purpose=purpose,
                decision="granted",
                policy_version="1",
                channel="web",
            )
        lifecycle.create_request(
            session,
            store,
            policy=settings.privacy,
            intake=lifecycle.Intake(customer_id=customer_id, kind="objection"),
            principal=DPO,
        )
    with smtp_server() as mailbox:
        delivery.drain(store, smtp_to(settings, mailbox.host, mailbox.port))
    [message] = mailbox.to("mary@example.com")
    url = urlsplit(link_in(message, "/preferences"))
    return f"{url.path}?{url.query}"


def test_subject_manages_preferences_and_dpo_sees_the_request(page: Any, live_server: Any) -> None:
    load_holders()
    page.goto(_preference_link(live_server))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your privacy preferences")

    row = page.locator("tr[data-purpose='personalisation']")
    expect(row).to_contain_text("agreed")
    row.get_by_role("button", name="Withdraw consent to Personalisation").click()
    expect(page.get_by_role("status")).to_contain_text("Your choice was saved.")
    expect(page.locator("tr[data-purpose='personalisation']")).to_contain_text("not agreed")
    expect(page.locator("tr[data-purpose='marketing_email']")).not_to_contain_text("not agreed")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download my data").click()
    with zipfile.ZipFile(info.value.path()) as archive:
        document = json.loads(archive.read("export.json"))
    assert {holder["name"] for holder in document["holders"]} >= {"privacy.consents"}

    page.get_by_role("button", name="Ask for erasure of my data").click()
    expect(page.get_by_role("status")).to_contain_text("Your request was received")
    expect(page.locator("tr[data-kind='erasure']")).to_contain_text("verified")

    sign_in_as_dpo(page, live_server)
    page.get_by_role("link", name="Data-subject requests").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Data-subject requests")
    erasure = page.locator("tr[data-kind='erasure']")
    expected_due = due_on("gdpr", lifecycle.today_utc()).isoformat()
    expect(erasure).to_contain_text(expected_due)
    expect(erasure).to_contain_text("on time")
    erasure.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erasure")
    expect(page.locator("dl.facts")).to_contain_text("verified")
    page.wait_for_load_state("networkidle")


def test_dpo_records_a_breach_and_reads_consents_and_records(page: Any, live_server: Any) -> None:
    customer_id = add_customer(live_server.store, email="ken@example.com")
    with live_server.store.sessions.begin() as session:
        ensure_default_records(session)
        consent.record_decision(
            session,
            customer_id=customer_id,
            purpose="marketing_email",
            decision="granted",
            policy_version="1",
            channel="web",
        )
    sign_in_as_dpo(page, live_server)

    page.get_by_role("link", name="Privacy", exact=True).click()
    expect(page.locator("[data-stat='consents'] .stat-value")).to_have_text("1")
    page.get_by_role("link", name="Consents").first.click()
    expect(page.locator("tr[data-purpose='marketing_email']")).to_contain_text("100 %")

    page.get_by_role("link", name="Records of processing").click()
    expect(page.locator("tr[data-record='marketing']")).to_contain_text("consent")

    page.get_by_role("link", name="Breaches").click()
    page.get_by_label("Title").fill("Misdirected export")
    page.get_by_label("What happened").fill("A CSV went to the wrong agency.")
    detected = (utcnow() - timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Detected at (UTC)").fill(detected)
    page.get_by_role("button", name="Record breach").click()
    expect(page.get_by_role("status")).to_contain_text("72-hour clock is running")
    row = page.locator("tr[data-clock='open']")
    expect(row).to_contain_text("h left")
    row.get_by_label("Authority reference").fill("CNIL-42")
    row.get_by_role("button", name="Notified").click()
    expect(page.locator("tr[data-clock='notified']")).to_contain_text("CNIL-42")
    page.get_by_role("link", name="Privacy", exact=True).click()
    expect(page.locator("[data-stat='breaches'] .stat-value")).to_have_text("0")

    page.goto("/privacy-notice")
    expect(page.get_by_role("heading", name="Direct marketing")).to_be_visible()
    page.wait_for_load_state("networkidle")

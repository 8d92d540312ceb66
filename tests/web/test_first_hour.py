"""The first hour of a new user, as one story in Debian's chromium, on a fresh demo
installation made the way ``clientvault demo`` (``make demo``) makes it: its first
administrator with a one-time password, the generated shop, the showcase steps (identity
matching included), and the server in ``dev`` with its mail catcher.

The administrator signs in (chooses a password, sets up the second factor), reviews a
queued pair, creates a write key in Settings and a website sends an identify call with it;
the customer list pages, sorts and finds that customer by user id and by name; on their
360° page the administrator opens a data-subject request, reads the verification e-mail in
the dev mailbox, follows its link as the customer would, completes the request, then reveals
the customer's identifiers (the reason POSTed, in no URL), exports and erases the customer.
No page on the way shows raw JSON or a Python repr.

SQLite only: ``make demo`` makes a SQLite installation, and every step is tested over HTTP on
both backends elsewhere (``tests/api/test_customer360_console.py``,
``tests/api/test_customers_api.py``, ``tests/api/test_privacy_requests_api.py``).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clientvault.app import create_app
from clientvault.demo.generator import generate_demo
from clientvault.demo.showcase import run_showcase
from clientvault.identity.models import Customer
from clientvault.messaging import delivery
from clientvault.messaging.catcher import catching_mail
from clientvault.privacy.requests.models import DataSubjectRequest
from clientvault.security.accounts import create_first_admin
from clientvault.security.passwords import hasher_for
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import STRONG

pytestmark = pytest.mark.web

ADMIN = "admin@example.com"
#: Enough people for two pages of the list (50 a page) and pairs in the review queue.
CUSTOMERS = 60
EMAIL = "rosa.quinlan@example.com"
USER_ID = "web-4711"
REVEAL_REASON = "checking-the-export-for-rosa"
#: What a page must never show: a Python repr (a list, dict, tuple, object, UUID, datetime,
#: Decimal, None) or a JSON document in place of a page.
REPR = re.compile(
    r"\[['\"(]|\{['\"]|\('|\bUUID\(|\bdatetime\.|\bDecimal\(|object at 0x|\bNone\b|^\s*[\[{]\""
)


@pytest.fixture
def first_password(db: Store, db_settings: Settings) -> str:
    """A fresh demo installation, as ``clientvault demo`` leaves it; the administrator's
    one-time password."""
    with db.sessions.begin() as session:
        admin = create_first_admin(session, email=ADMIN, ph=hasher_for(db_settings.security))
        assert admin is not None
        password = admin.one_time_password
    generate_demo(db, customers=CUSTOMERS, seed=42, default_region="FR")
    run_showcase(db, db_settings)
    assert password
    return password


@dataclass(frozen=True)
class DemoServer:
    """The served demo: its URL (what the ``page`` fixture needs), settings and store."""

    url: str
    settings: Settings
    store: Store


@pytest.fixture
def live_server(
    first_password: str, db: Store, db_settings: Settings, serve_app: Any
) -> Iterator[DemoServer]:
    """The demo installation served as ``clientvault demo`` serves it: ``env=dev``, e-mail
    caught by the dev mail catcher (this overrides ``tests/web/conftest.py``'s)."""
    dev = db_settings.model_copy(update={"env": "dev"})
    with catching_mail(dev) as settings:
        yield DemoServer(serve_app(create_app(settings, store=db)), settings, db)


def _shows_no_repr(page: Any) -> None:
    """The page's text holds no Python repr and is no JSON document."""
    text = page.locator("body").inner_text()
    found = REPR.search(text)
    assert found is None, (
        f"{page.url} shows {text[max(found.start() - 60, 0) : found.end() + 60]!r}"
    )


def _identify(base_url: str, write_key: str) -> int:
    """What a website's back end sends: an identify call authenticated by the write key."""
    body = {
        "userId": USER_ID,
        "traits": {
            "email": EMAIL,
            "firstName": "Rosa",
            "lastName": "Quinlan",
            "tags": ["vip", "eu"],
        },
    }
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


def _sign_in_first_time(page: Any, one_time: str) -> None:
    """The demo's administrator: the one-time password, the second factor, a new password."""
    page.goto("/console/login")
    page.get_by_label("E-mail").fill(ADMIN)
    page.get_by_label("Password").fill(one_time)
    page.wait_for_load_state("networkidle")  # an aborted favicon request fails the test
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Start").click()
    secret = page.locator("[data-secret]").inner_text()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    page.get_by_label("One-time password").fill(one_time)
    page.get_by_label("New password", exact=True).fill(STRONG)
    page.get_by_label("New password again").fill(STRONG)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    page.wait_for_load_state("networkidle")
    _shows_no_repr(page)


def _review_a_pair(page: Any) -> None:
    page.get_by_role("link", name="Identity review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Identity review")
    _shows_no_repr(page)
    page.wait_for_load_state("networkidle")
    page.locator("article[data-candidate]").first.get_by_role("button", name="Merge").click()
    expect(page.locator(".alert-success")).to_contain_text("The two profiles were merged.")
    page.wait_for_load_state("networkidle")


def _write_key_and_an_event(page: Any, base_url: str) -> None:
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    _shows_no_repr(page)
    page.get_by_label("Name", exact=True).fill("shop-front")
    page.get_by_role("button", name="Create source").click()
    key = page.locator("#new-write-key").inner_text()
    assert key.startswith("cvwk_")
    assert _identify(base_url, key) == 200
    page.goto("/console/settings")
    expect(page.locator("tr[data-source='shop-front'] [data-events]")).to_have_text("1")
    expect(page.locator("main")).not_to_contain_text(key)  # shown once only
    page.wait_for_load_state("networkidle")


def _orders(rows: Any) -> list[int]:
    """The orders column of the list's rows (the first numeric cell)."""
    cells = rows.evaluate_all("rows => rows.map(r => r.querySelector('td.cell-num').textContent)")
    return [int(re.sub(r"\D", "", cell)) for cell in cells]


def _find_the_customer(page: Any) -> str:
    """Page, sort, then search by user id and by name; returns the customer's 360° path."""
    page.get_by_role("link", name="Customers", exact=True).click()
    rows = page.locator("[data-table=customers] tbody tr")
    expect(rows).to_have_count(50)
    newest = rows.first.get_attribute("data-customer")  # the default order: newest first
    _shows_no_repr(page)
    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_role("link", name="First page")).to_be_visible()
    assert 0 < rows.count() <= 50
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(50)

    page.locator("a[data-sort=orders]").click()
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Orders")
    orders = _orders(rows)
    assert orders == sorted(orders, reverse=True)
    assert orders[0] > 0
    # The best customer's 360° page: the scores the demo's showcase computed.
    page.wait_for_load_state("networkidle")
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer 360°")
    expect(page.locator("[data-table=scores] tr[data-score=rfm_group] .chip")).to_be_visible()
    expect(page.locator("[data-table=scores] tr[data-score=clv_predicted]")).to_be_visible()
    _shows_no_repr(page)
    page.wait_for_load_state("networkidle")
    page.go_back()

    search = page.get_by_label("Id, user id, external id, e-mail, phone or name")
    search.fill(USER_ID)
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("r\u2022\u2022\u2022@example.com")  # a masked hint
    by_user_id = rows.first.get_attribute("data-customer")
    assert by_user_id == newest  # the website's identify call made them a moment ago
    search.fill("quinlan ROSA")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(page.locator("[data-matched-by]")).to_contain_text("name")
    assert rows.first.get_attribute("data-customer") == by_user_id
    _shows_no_repr(page)
    page.wait_for_load_state("networkidle")
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer 360°")
    return f"/console/customers/{by_user_id}"


def _request_verified_by_mail(page: Any, server: DemoServer) -> str:
    """Open an access request on the 360° page, then follow the verification e-mail's link as
    the customer would; returns the request's page."""
    page.locator("#request-kind").select_option("access")
    page.get_by_role("button", name="Open request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Access to personal data")
    expect(page.locator("[data-request]")).to_contain_text("received")
    request_page = urlsplit(page.url).path
    # What the worker's outbox-delivery job does every few seconds: hand the queue to SMTP.
    assert delivery.drain(server.store, server.settings.smtp) >= 1
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="Dev mailbox").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev mailbox")
    page.locator("tr[data-message]", has_text=EMAIL).first.get_by_role("link").click()
    link = page.locator("[data-mail-body] a[href*='/preferences/verify?token=']")
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(server.settings.privacy.public_url)
    _shows_no_repr(page)
    # The link names the installation's public address; this server listens elsewhere.
    target = urlsplit(href)
    page.wait_for_load_state("networkidle")
    page.goto(f"{target.path}?{target.query}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your request")
    page.get_by_role("button", name="Confirm my request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request confirmed")
    page.wait_for_load_state("networkidle")
    return request_page


def _complete(page: Any, request_page: str) -> None:
    page.goto(request_page)
    expect(page.locator("[data-request]")).to_contain_text("verified")
    page.get_by_label("Note").fill("sent the export by e-mail")
    page.get_by_role("button", name="Carry out and close").click()
    expect(page.locator("[data-request]")).to_contain_text("completed")
    _shows_no_repr(page)
    page.wait_for_load_state("networkidle")


def _export_and_erase(page: Any, page_problems: Any, customer: str, tmp_path: Path) -> None:
    page.goto(customer)
    expect(page.locator("tr[data-trait='tags'] li.chip")).to_have_text(["vip", "eu"])
    expect(page.locator("[data-table=golden]")).not_to_contain_text(EMAIL)  # masked
    page.get_by_label("Show identifiers, because").fill(REVEAL_REASON)
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("[data-table=golden]")).to_contain_text(EMAIL)
    _shows_no_repr(page)
    page_problems.expect_download(f"{customer}/export")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download export (zip)").click()
    saved = tmp_path / "export.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert EMAIL in archive.read("export.json").decode()
    page.get_by_role("link", name="Erase this customer…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erase customer")
    page.get_by_label("Type ERASE to confirm").fill("ERASE")
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erasure certificate")
    expect(page.locator("[data-table='certificate']")).to_contain_text(customer.rsplit("/", 1)[1])
    _shows_no_repr(page)
    page.wait_for_load_state("networkidle")


@pytest.mark.slow
@pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)  # as `make demo` makes it
def test_the_first_hour_on_a_fresh_demo(
    page: Any, live_server: DemoServer, first_password: str, page_problems: Any, tmp_path: Path
) -> None:
    documents: list[tuple[str, str]] = []
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    def answered(response: Any) -> None:
        if response.request.resource_type == "document" and not 300 <= response.status < 400:
            documents.append((response.url, response.headers.get("content-type", "")))

    page.on("response", answered)
    _sign_in_first_time(page, first_password)
    _review_a_pair(page)
    _write_key_and_an_event(page, live_server.url)
    customer = _find_the_customer(page)
    request_page = _request_verified_by_mail(page, live_server)
    _complete(page, request_page)
    _export_and_erase(page, page_problems, customer, tmp_path)

    customer_id = uuid.UUID(customer.rsplit("/", 1)[1])
    with live_server.store.sessions() as session:
        gone = session.get(Customer, customer_id)
        assert gone is None or gone.status == "erased"
        dsr = session.scalars(
            select(DataSubjectRequest).where(DataSubjectRequest.customer_id == customer_id)
        ).one()
        assert (dsr.kind, dsr.status, dsr.verified_at is not None) == ("access", "completed", True)
    # The reveal's reason went in a POST body: no URL the browser asked for holds it.
    assert [url for url in urls if REVEAL_REASON in url] == []
    # Every page was a page: HTML, never a JSON body (the export is the one download;
    # redirects have no body).
    assert len(documents) > 15
    assert [
        (url, kind)
        for url, kind in documents
        if not kind.startswith("text/html") and not url.endswith("/export")
    ] == []

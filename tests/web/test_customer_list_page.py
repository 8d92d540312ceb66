"""The customer list in the browser: it pages, sorts by a column header, and finds a
customer by user id and by full name (through the name blind indexes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from clientvault.identity.models import CustomerIdentity
from clientvault.identity.profiles import create_prepared_customers, prepare_profile
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.commerce.models import Order
from support.browser import sign_in_as_dpo

pytestmark = pytest.mark.web

#: One more than a page (50), so the list has a second page.
PEOPLE = 55
START = datetime(2026, 3, 1, tzinfo=UTC)


def _seed(live_server) -> dict[str, str]:  # type: ignore[no-untyped-def]
    store = live_server.store
    prepared = [
        prepare_profile(
            CustomerCreate(
                first_name=f"Person{n}",
                last_name="Dupont" if n == 7 else f"Family{n}",
                email=f"person{n}@example.com",
                country="FR",
            ),
            default_region="FR",
        )
        for n in range(PEOPLE)
    ]
    with store.sessions.begin() as session:
        ids = create_prepared_customers(
            session,
            store,
            prepared=prepared,
            source="shop",
            created_at=[START + timedelta(hours=n) for n in range(PEOPLE)],
        )
        for n, customer_id in enumerate(ids):
            session.add(
                CustomerIdentity(
                    customer_id=customer_id,
                    kind="user_id",
                    value_index=store.index("user_id", f"u-{n:04d}"),
                )
            )
        # The oldest customer is the best one: three orders.
        for number in range(3):
            session.add(
                Order(
                    external_id=f"o-{number}",
                    customer_id=ids[0],
                    status="completed",
                    placed_at=START + timedelta(days=number),
                    currency="EUR",
                    total=Decimal("30.00"),
                )
            )
    return {"oldest": str(ids[0]), "newest": str(ids[-1]), "seventh": str(ids[7])}


def test_the_list_pages_sorts_and_finds_by_user_id_and_name(page, live_server) -> None:  # type: ignore[no-untyped-def]
    ids = _seed(live_server)
    sign_in_as_dpo(page, live_server)
    page.goto("/console/customers")
    rows = page.locator("[data-table=customers] tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-customer", ids["newest"])

    page.get_by_role("link", name="Next →").click()
    expect(rows).to_have_count(PEOPLE - 50)
    expect(rows.last).to_have_attribute("data-customer", ids["oldest"])
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(50)

    page.locator("a[data-sort=orders]").click()
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Orders")
    expect(rows.first).to_have_attribute("data-customer", ids["oldest"])
    expect(rows.first).to_contain_text("90.00")

    search = page.get_by_label("Id, user id, external id, e-mail, phone or name")
    search.fill("u-0007")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-customer", ids["seventh"])
    expect(rows.first).to_contain_text("p\u2022\u2022\u2022@example.com")

    search.fill("dupont PERSON7")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-customer", ids["seventh"])
    expect(page.locator("[data-matched-by]")).to_contain_text("name")

"""Identity pages in Debian's chromium: a reviewer opens the queue, reads the explanation,
merges the pair and un-merges it; the 360° page shows identifiers only when revealed."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clientvault.identity.models import Customer, IdentifierConflict, MatchCandidate
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.tracking import ingest
from support.staff import STRONG, create_staff

pytestmark = pytest.mark.web

EXPLANATION = [
    {"comparison": "first_name", "level": "exact match", "weight": 4.5},
    {"comparison": "birth_date", "level": "one digit off", "weight": 1.75},
    {"comparison": "city", "level": "different", "weight": -2.0},
]


def _seed(live_server: Any) -> tuple[Any, Any, int]:
    with live_server.store.sessions.begin() as session:
        ids = create_customers(
            session,
            live_server.store,
            profiles=[
                CustomerCreate(first_name="Lena", email="lena@example.com", city="Lyon"),
                CustomerCreate(first_name="Lena", phone="0612345678", city="Nice"),
            ],
            source="web",
            default_region="FR",
        )
        left, right = sorted(ids)
        candidate = MatchCandidate(
            left_id=left,
            right_id=right,
            match_probability=0.87,
            match_weight=4.25,
            explanation=EXPLANATION,
            model_version="test",
        )
        session.add(candidate)
        session.flush()
        user = create_staff(
            session,
            live_server.settings,
            email="support@example.com",
            role="support",
            display_name="Sam Support",
        ).user
        user.must_change_password = False
        return ids[0], ids[1], candidate.id


def _sign_in(page: Any) -> None:
    page.goto("/console/login")
    page.get_by_label("E-mail").fill("support@example.com")
    page.get_by_label("Password").fill(STRONG)
    page.wait_for_load_state("networkidle")  # an aborted favicon request fails the test
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    page.wait_for_load_state("networkidle")


def test_reviewer_merges_a_candidate_then_unmerges_it(page: Any, live_server: Any) -> None:
    older, newer, candidate_id = _seed(live_server)
    _sign_in(page)
    page.get_by_role("link", name="Identity review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Identity review")
    page.wait_for_load_state("networkidle")
    card = page.locator(f"article[data-candidate='{candidate_id}']")
    expect(card).to_contain_text("match probability 87.0%")
    explanation = card.locator("[data-explanation]")
    expect(explanation.locator("tbody tr")).to_have_count(3)
    expect(explanation.locator("[data-comparison='first_name']")).to_contain_text("+4.50")
    expect(explanation.locator("[data-comparison='city']")).to_contain_text("-2.00")
    expect(card).not_to_contain_text("lena@example.com")  # pseudonymised until revealed
    page.get_by_label("Show identifiers, because").fill("checking a duplicate")
    page.get_by_role("button", name="Show").click()
    card = page.locator(f"article[data-candidate='{candidate_id}']")
    expect(card).to_contain_text("lena@example.com")
    page.wait_for_load_state("networkidle")

    card.get_by_role("button", name="Merge").click()
    expect(page.locator(".alert-success")).to_contain_text("The two profiles were merged.")
    # The reason holds for the session's reveal window: not asked again after the merge.
    expect(page.locator("[data-reveal-window]")).to_contain_text("checking a duplicate")
    expect(page.get_by_label("Show identifiers, because")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    expect(page.locator("article[data-candidate]")).to_have_count(0)
    merge_row = page.locator("table[data-table='merges'] tbody tr")
    expect(merge_row).to_have_count(1)
    with live_server.store.sessions() as session:
        assert session.get(Customer, newer).merged_into_id == older

    merge_row.get_by_role("button", name="Un-merge").click()
    expect(page.locator(".alert-success")).to_contain_text("The merge was undone")
    expect(page.locator("table[data-table='merges']")).to_have_count(0)
    with live_server.store.sessions() as session:
        assert session.get(Customer, newer).status == "active"
        assert session.get(MatchCandidate, candidate_id).status == "rejected"
    page.wait_for_load_state("networkidle")


def test_customer_360_page_masks_identifiers_until_revealed(page: Any, live_server: Any) -> None:
    older, _, _ = _seed(live_server)
    _sign_in(page)
    page.get_by_role("link", name="Customers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customers")
    page.wait_for_load_state("networkidle")
    page.locator(f"tr[data-customer='{older}'] a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer 360°")
    page.wait_for_load_state("networkidle")
    email = page.locator("tr[data-attribute='email']")
    expect(email).to_have_attribute("data-masked", "true")
    expect(page.locator("table[data-table='golden']")).not_to_contain_text("lena@example.com")
    page.get_by_label("Show identifiers, because").fill("customer called about an order")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("tr[data-attribute='email']")).to_contain_text("lena@example.com")
    expect(page.locator("tr[data-attribute='first_name']")).to_contain_text("Lena")
    page.wait_for_load_state("networkidle")


def test_customer_360_page_shows_an_identifier_kept_in_conflict(
    page: Any, live_server: Any
) -> None:
    _seed(live_server)  # the support user
    calls = [
        {
            "type": "identify",
            "userId": user,
            "messageId": f"m-{user}",
            "traits": {"firstName": "Ines"},
            "context": {"externalIds": [{"type": "ssn", "id": "771-20-1183"}]},
        }
        for user in ("crm-1", "crm-2")
    ]
    with live_server.store.sessions.begin() as session:
        result = ingest(
            session, live_server.store, source="crm", messages=calls, default_region="FR"
        )
        keeper, holder = session.execute(
            select(IdentifierConflict.customer_id, IdentifierConflict.owner_id)
        ).one()
    assert result.identifier_conflicts == 1
    _sign_in(page)
    page.goto(f"/console/customers/{keeper}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer 360°")
    kept = page.locator("ul[data-list='kept-identifiers'] li[data-kind='ext:ssn']")
    expect(kept).to_contain_text("ext:ssn ••••••")
    expect(kept).to_contain_text(f"held by …{str(holder)[-8:]}")
    expect(page.locator("main")).not_to_contain_text("771-20-1183")
    page.wait_for_load_state("networkidle")

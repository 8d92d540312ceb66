"""The customer list over HTTP (``GET /api/v1/customers`` and ``/console/customers``) and in
the domain (``customers.search.list_customers``): filters, sorts, keyset pages that return
every row once, the e-mail hint, and search by id, user id, external id, e-mail, phone and
full name with the right answer for each kind of query."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from clientvault.customers.search import CustomerListQuery, list_customers
from clientvault.errors import InvalidInput
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.identity.profiles import (
    create_prepared_customers,
    index_for_search,
    prepare_profile,
)
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.commerce.models import Order
from clientvault.privacy.models import ConsentRecord
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import bearer_headers

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
READER = Principal.system("list-test", "customers:read", PII_REVEAL)


@dataclass
class Base:
    """The seeded people, by name."""

    ids: dict[str, uuid.UUID]


PEOPLE: list[dict[str, Any]] = [
    # name, created day offset, country, source, orders (totals), user id
    {
        "key": "zoe",
        "first": "Zoé",
        "last": "O'Brien-Smith",
        "email": "Zoe@Example.com",
        "phone": "+33 6 12 34 56 78",
        "day": 0,
        "country": "FR",
        "source": "shop",
        "orders": ["19.90", "5.10"],
        "user_id": "u-1001",
        "consent": "granted",
    },
    {
        "key": "jean",
        "first": "Jean",
        "last": "Dupont",
        "email": "jean.dupont@example.org",
        "day": 1,
        "country": "FR",
        "source": "crm",
        "orders": ["100.00"],
        "user_id": "u-1002",
        "consent": "withdrawn",
    },
    {
        "key": "anna",
        "first": "Anna",
        "last": "Müller",
        "email": "anna@example.de",
        "day": 2,
        "country": "DE",
        "source": "shop",
        "orders": [],
        "external": ("crm", "CRM-77"),
    },
    {
        "key": "dupont2",
        "first": "Marie",
        "last": "Dupont",
        "day": 2,
        "country": "BE",
        "source": "import",
        "orders": ["7.00", "7.00", "7.00"],
    },
    {
        "key": "noname",
        "day": 3,
        "country": None,
        "source": "shop",
        "orders": [],
        "external": ("loyalty", "L-5"),
    },
]


def _seed(store: Store) -> Base:
    prepared = [
        prepare_profile(
            CustomerCreate(
                first_name=p.get("first"),
                last_name=p.get("last"),
                email=p.get("email"),
                phone=p.get("phone"),
                country=p["country"],
                city="Lyon" if p["country"] == "FR" else None,
            ),
            default_region="FR",
        )
        for p in PEOPLE
    ]
    ids: dict[str, uuid.UUID] = {}
    with store.sessions.begin() as session:
        for person, item in zip(PEOPLE, prepared, strict=True):
            (customer_id,) = create_prepared_customers(
                session,
                store,
                prepared=[item],
                source=person["source"],
                created_at=[START + timedelta(days=person["day"])],
            )
            ids[person["key"]] = customer_id
            for number, total in enumerate(person["orders"]):
                session.add(
                    Order(
                        external_id=f"{person['key']}-{number}",
                        customer_id=customer_id,
                        status="completed",
                        placed_at=START + timedelta(days=10 + number),
                        currency="EUR",
                        total=Decimal(total),
                    )
                )
            identities = []
            if "user_id" in person:
                identities.append(("user_id", person["user_id"]))
            if "external" in person:
                kind, value = person["external"]
                identities.append((f"ext:{kind}", value))
            for kind, value in identities:
                session.add(
                    CustomerIdentity(
                        customer_id=customer_id,
                        kind=kind,
                        value_index=store.index(kind, value),
                        last_seen_at=START + timedelta(days=30 + person["day"]),
                    )
                )
            if "consent" in person:
                session.add(
                    ConsentRecord(
                        customer_id=customer_id,
                        purpose="marketing_email",
                        decision=person["consent"],
                        policy_version="v1",
                        channel="web",
                    )
                )
    return Base(ids)


@pytest.fixture
def people(db: Store) -> Base:
    return _seed(db)


def _ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["items"]]


def test_filters_sorts_and_columns(
    client: TestClient, db: Store, db_settings: Settings, people: Base
) -> None:
    ids = {key: str(value) for key, value in people.ids.items()}
    support = bearer_headers(db, db_settings, "support")
    newest_first = _ids(client.get("/api/v1/customers", headers=support))
    assert newest_first[0] == ids["noname"]
    assert newest_first[-1] == ids["zoe"]
    assert len(newest_first) == len(PEOPLE)

    def listed(**params: Any) -> list[str]:
        return _ids(client.get("/api/v1/customers", params=params, headers=support))

    assert set(listed(country="fr")) == {ids["zoe"], ids["jean"]}
    assert set(listed(country="Germany")) == {ids["anna"]}
    assert set(listed(source="shop")) == {ids["zoe"], ids["anna"], ids["noname"]}
    assert set(listed(has_orders="true")) == {ids["zoe"], ids["jean"], ids["dupont2"]}
    assert set(listed(has_orders="false")) == {ids["anna"], ids["noname"]}
    assert set(listed(created_from="2026-01-02", created_to="2026-01-03")) == {
        ids["jean"],
        ids["anna"],
        ids["dupont2"],
    }
    assert listed(consent="marketing_email") == [ids["zoe"]]  # Jean withdrew
    assert listed(sort="orders", direction="desc")[0] == ids["dupont2"]  # three orders
    assert listed(sort="revenue", direction="desc")[:2] == [ids["jean"], ids["zoe"]]
    assert listed(sort="last_seen", direction="desc")[:2] == [ids["noname"], ids["anna"]]
    rows = {
        row["id"]: row for row in client.get("/api/v1/customers", headers=support).json()["items"]
    }
    assert rows[ids["zoe"]]["email_hint"] == "z\u2022\u2022\u2022@example.com"
    assert rows[ids["zoe"]]["orders"] == 2
    assert rows[ids["zoe"]]["revenue"] == 25.0
    assert rows[ids["zoe"]]["city"] == "Lyon"
    analyst = bearer_headers(db, db_settings, "analyst")
    hidden = client.get("/api/v1/customers", headers=analyst).json()["items"]
    assert {row["email_hint"] for row in hidden} == {None}  # the hint is for pii:reveal
    unknown = client.get("/api/v1/customers", params={"consent": "nope"}, headers=support)
    assert unknown.status_code == 404
    bad_range = client.get(
        "/api/v1/customers",
        params={"created_from": "2026-02-01", "created_to": "2026-01-01"},
        headers=support,
    )
    assert bad_range.status_code == 422
    assert "created_from" in bad_range.json()["error"]["message"]
    assert (
        client.get("/api/v1/customers", params={"sort": "email"}, headers=support).status_code
        == 422
    )
    assert client.get("/api/v1/customers").status_code == 401


SEARCHES = [
    ("u-1001", ["zoe"], "identifier"),
    ("CRM-77", ["anna"], "identifier"),
    ("L-5", ["noname"], "identifier"),
    ("ZOE@example.com", ["zoe"], "email"),
    ("06 12 34 56 78", ["zoe"], "phone"),
    ("dupont", ["jean", "dupont2"], "name"),
    ("DUPONT jean", ["jean"], "name"),
    ("zoe o'brien smith", ["zoe"], "name"),
    ("Muller Anna", ["anna"], "name"),
    ("Dupon", [], "name"),
]


def test_search_finds_each_kind_of_identifier(
    client: TestClient, db: Store, db_settings: Settings, people: Base
) -> None:
    support = bearer_headers(db, db_settings, "support")
    for query, found, kind in SEARCHES:
        answer = client.get("/api/v1/customers", params={"q": query}, headers=support)
        assert set(_ids(answer)) == {str(people.ids[key]) for key in found}, query
        assert kind in answer.json()["matched_by"], query


def test_each_kind_of_query_gets_its_own_error(
    client: TestClient, db: Store, db_settings: Settings, people: Base
) -> None:
    support = bearer_headers(db, db_settings, "support")
    analyst = bearer_headers(db, db_settings, "analyst")

    def error(query: str, headers: dict[str, str]) -> tuple[int, str]:
        answer = client.get("/api/v1/customers", params={"q": query}, headers=headers)
        return answer.status_code, answer.json()["error"]["message"]

    assert error("zoe@", support)[1].startswith("invalid e-mail address")
    status, message = error("+33 1234", support)
    assert status == 422
    assert message.startswith("phone number")
    assert error("zoe@example.com", analyst) == (
        403,
        "searching by an e-mail address needs the pii:reveal permission",
    )
    assert error("+33 6 12 34 56 78", analyst)[0] == 403
    # A surname is a name search (no "phone number cannot be parsed"); without pii:reveal it
    # looks for user and external ids only, and finds nobody.
    surname = client.get("/api/v1/customers", params={"q": "Dupont"}, headers=analyst)
    assert _ids(surname) == []
    assert surname.json()["matched_by"] == ["identifier"]
    by_user_id = client.get("/api/v1/customers", params={"q": "u-1002"}, headers=analyst)
    assert _ids(by_user_id) == [str(people.ids["jean"])]
    foreign = client.get(
        "/api/v1/customers", params={"cursor": "bm90IGEgY3Vyc29y"}, headers=support
    )
    assert foreign.status_code == 422
    assert "cursor" in foreign.json()["error"]["message"]


def test_console_list_pages_sorts_filters_and_explains(
    client: TestClient, db: Store, db_settings: Settings, people: Base
) -> None:
    support = bearer_headers(db, db_settings, "support")
    first = client.get("/console/customers?limit=2&sort=city&direction=asc", headers=support)
    assert first.status_code == 200
    assert first.text.count("data-customer=") == 2
    assert 'rel="next"' in first.text
    assert 'aria-sort="ascending"' in first.text
    assert "a\u2022\u2022\u2022@example.de" in first.text  # no city: first in city order
    surname = client.get("/console/customers?q=Dupont", headers=support)
    assert surname.text.count("data-customer=") == 2
    assert "cannot be parsed" not in surname.text
    wrong = client.get("/console/customers?created_from=yesterday", headers=support)
    assert wrong.status_code == 200
    assert "The filters were not applied" in wrong.text
    assert '"detail"' not in wrong.text


def test_every_row_once_whatever_the_sort_and_page_size(db: Store, people: Base) -> None:
    # More rows with ties on every sort key (same day, no country, no orders).
    with db.sessions.begin() as session:
        create_prepared_customers(
            session,
            db,
            prepared=[prepare_profile(CustomerCreate(), default_region="FR")] * 12,
            source="shop",
            created_at=[START + timedelta(days=2)] * 12,
        )

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        sort=st.sampled_from(
            ["created", "updated", "last_seen", "orders", "revenue", "country", "city"]
        ),
        direction=st.sampled_from(["asc", "desc"]),
        limit=st.integers(min_value=1, max_value=7),
    )
    def check(sort: str, direction: str, limit: int) -> None:
        with db.read_sessions() as session:
            whole = list_customers(
                session,
                db,
                query=CustomerListQuery(sort=sort, direction=direction, limit=200),  # type: ignore[arg-type]
                viewer=READER,
                default_region="FR",
            )
            seen: list[uuid.UUID] = []
            cursor = None
            while True:
                page = list_customers(
                    session,
                    db,
                    query=CustomerListQuery(
                        sort=sort,
                        direction=direction,
                        limit=limit,
                        cursor=cursor,  # type: ignore[arg-type]
                    ),
                    viewer=READER,
                    default_region="FR",
                )
                seen += [row.id for row in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    break
        assert seen == [row.id for row in whole.items]
        assert len(seen) == len(set(seen)) == len(PEOPLE) + 12

    check()


def test_profiles_written_before_the_columns_get_them_from_reindex(db: Store, people: Base) -> None:
    with db.sessions.begin() as session:
        session.execute(
            update(Customer).values(email_hint=None, first_name_index=None, last_name_index=None)
        )
    assert index_for_search(db, batch=2) == 4  # everyone but the one without identifiers
    assert index_for_search(db) == 0
    with db.read_sessions() as session:
        page = list_customers(
            session,
            db,
            query=CustomerListQuery(q="jean dupont"),
            viewer=READER,
            default_region="FR",
        )
        assert [row.id for row in page.items] == [people.ids["jean"]]
        assert page.items[0].email_hint == "j\u2022\u2022\u2022@example.org"
        with pytest.raises(InvalidInput, match="at most 6 words"):
            list_customers(
                session,
                db,
                query=CustomerListQuery(q="a b c d e f g"),
                viewer=READER,
                default_region="FR",
            )

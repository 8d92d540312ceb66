"""A profile is found by its current e-mail and phone through the identity graph's lookup
index (``graph.holds_current``), the customers' own columns having no index of their own."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, select

from clientvault.identity.graph import holds_current
from clientvault.identity.models import Customer
from clientvault.identity.profiles import find_by_email
from clientvault.ingest.tracking import ingest
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store
from support.identity_eval import customer_of


def _identify(db: Store, *calls: dict[str, Any], identity: IdentitySettings | None = None) -> None:
    messages = [
        {"type": "identify", "messageId": f"m-{uuid.uuid4().hex}", **call} for call in calls
    ]
    with db.sessions.begin() as session:
        result = ingest(
            session, db, source="test", messages=messages, default_region="FR", identity=identity
        )
    assert result.accepted == len(messages)


def _by_email(db: Store, email: str) -> set[uuid.UUID]:
    with db.read_sessions() as session:
        return set(find_by_email(session, db, email=email))


def _by_phone(db: Store, phone: str) -> set[uuid.UUID]:
    with db.read_sessions() as session:
        found = session.scalars(
            select(Customer.id).where(holds_current("phone", db.index("phone", phone)))
        )
        return set(found)


def test_a_profile_is_found_by_its_current_email_and_phone_not_by_replaced_ones(db: Store) -> None:
    run = uuid.uuid4().hex[:8]
    first, second = f"first-{run}@example.org", f"Second-{run}@Example.org"
    _identify(db, {"userId": f"u-{run}", "traits": {"email": first, "phone": "+33612345678"}})
    customer = customer_of(db, "user_id", f"u-{run}")
    assert _by_email(db, first) == {customer}
    assert _by_phone(db, "+33612345678") == {customer}

    _identify(db, {"userId": f"u-{run}", "traits": {"email": second, "phone": "+33698765432"}})

    assert _by_email(db, second.lower()) == {customer}
    assert _by_phone(db, "+33698765432") == {customer}
    assert _by_email(db, first) == set()  # still linked in the graph, no longer theirs
    assert _by_phone(db, "+33612345678") == set()
    assert _by_email(db, f"nobody-{run}@example.org") == set()


def test_an_email_kept_in_conflict_finds_its_profile_too(db: Store) -> None:
    run = uuid.uuid4().hex[:8]
    shared = f"shared-{run}@example.org"
    one_each = IdentitySettings(max_customers_per_value={"user_id": 1, "email": 1})
    _identify(
        db,
        {"userId": f"a-{run}", "traits": {"email": shared}},
        {"userId": f"b-{run}", "traits": {"email": shared}},
        identity=one_each,
    )
    owner, keeper = customer_of(db, "user_id", f"a-{run}"), customer_of(db, "user_id", f"b-{run}")
    assert owner != keeper
    assert _by_email(db, shared) == {owner, keeper}


def test_a_blocked_placeholder_names_no_one(db: Store) -> None:
    run = uuid.uuid4().hex[:8]
    _identify(db, {"userId": f"p-{run}", "traits": {"email": "test@example.com"}})
    assert customer_of(db, "user_id", f"p-{run}") is not None
    assert _by_email(db, "test@example.com") == set()


def test_a_profile_is_found_by_email_without_reading_every_profile(db: Store) -> None:
    query = select(Customer.id).where(holds_current("email", db.index("email", "x@example.org")))
    with db.read_sessions() as session:
        connection = session.connection()
        sqlite = connection.dialect.name == "sqlite"
        if not sqlite:  # forbidden unless there is no other way: a plan that still scans has none
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")

        def explained(*args: Any) -> tuple[str, Any]:
            statement, parameters = args[2], args[3]
            return ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters

        event.listen(connection, "before_cursor_execute", explained, retval=True)
        try:
            plan = " ".join(str(row[-1]) for row in connection.execute(query).cursor.fetchall())
        finally:
            event.remove(connection, "before_cursor_execute", explained)
    assert "customers" in plan  # the plan of this query, read
    assert ("SCAN customers" if sqlite else "Seq Scan on customers") not in plan, plan

"""Identity resolution's own records (merges, candidate pairs, blocking keys) are part of the
person's data: exported with it and erased with it, while other people's stay."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select

from clientvault.identity.matching.models import MatchBlockingKey
from clientvault.identity.matching.spec import matching_record
from clientvault.identity.matching.store import keyed_blocking_keys, replace_blocking_keys
from clientvault.identity.models import (
    CustomerIdentity,
    CustomerMerge,
    CustomerMergeMove,
    IdentifierConflict,
    MatchCandidate,
)
from clientvault.ingest.tracking import ingest
from clientvault.privacy.erasure import erase_customer
from clientvault.privacy.export import export_customer
from clientvault.store.context import Store
from support.privacy_core import DPO, make_customers, merge_into, person, prepare


def _candidate(store: Store, a: uuid.UUID, b: uuid.UUID) -> None:
    left, right = sorted((a, b))
    with store.sessions.begin() as session:
        session.add(
            MatchCandidate(
                left_id=left,
                right_id=right,
                match_probability=0.9,
                match_weight=3.2,
                explanation=[{"comparison": "last_name", "level": "exact", "weight": 3.2}],
                status="pending",
                model_version="test",
            )
        )


def _blocking_keys(store: Store, *customer_ids: uuid.UUID) -> None:
    records = {
        cid: matching_record(
            first_name=f"First{n}",
            last_name=f"Last{n}",
            email=f"person.{n}@example.com",
            phone=None,
            birth_date=f"1980-01-0{n}",
            postal_code="69001",
            city="Lyon",
            street=None,
            external_id=None,
        )
        for n, cid in enumerate(customer_ids, start=1)
    }
    keys = {cid: keyed_blocking_keys(store, record) for cid, record in records.items()}
    with store.sessions.begin() as session:
        assert replace_blocking_keys(session, keys) > 0


def _naming(store: Store, ids: list[uuid.UUID]) -> dict[str, int]:
    with store.read_sessions() as session:
        return {
            "merges": session.scalar(
                select(func.count()).where(
                    or_(CustomerMerge.survivor_id.in_(ids), CustomerMerge.absorbed_id.in_(ids))
                )
            )
            or 0,
            "moves": session.scalar(select(func.count()).select_from(CustomerMergeMove)) or 0,
            "candidates": session.scalar(
                select(func.count()).where(
                    or_(MatchCandidate.left_id.in_(ids), MatchCandidate.right_id.in_(ids))
                )
            )
            or 0,
            "keys": session.scalar(
                select(func.count()).where(MatchBlockingKey.customer_id.in_(ids))
            )
            or 0,
        }


def test_merges_candidates_and_blocking_keys_are_exported_and_erased(db: Store) -> None:
    prepare(db)
    survivor, absorbed, stranger, other = make_customers(db, *(person(n) for n in (1, 2, 3, 4)))
    merge_into(db, absorbed, survivor)
    _candidate(db, survivor, stranger)
    _candidate(db, stranger, other)  # two other people: must survive the erasure
    _blocking_keys(db, survivor, absorbed, stranger)

    with db.sessions.begin() as session:
        document = export_customer(
            session, db, customer_id=survivor, principal=DPO, reason="access request"
        )
    sections = {holder["name"]: holder["records"] for holder in document["holders"]}
    [merge] = sections["identity.merges"]
    assert (merge["survivor_id"], merge["absorbed_id"]) == (str(survivor), str(absorbed))
    assert len(sections["identity.match_candidates"]) == 1
    assert sections["identity.blocking_keys"]
    assert all("key" not in row for row in sections["identity.blocking_keys"])

    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=survivor, principal=DPO, reason="erasure request")
    assert _naming(db, [survivor, absorbed]) == {
        "merges": 0,
        "moves": 0,
        "candidates": 0,
        "keys": 0,
    }
    remaining = _naming(db, [stranger, other])
    assert remaining["candidates"] == 1
    assert remaining["keys"] > 0


def test_identifier_conflicts_are_exported_and_erased_with_either_profile(db: Store) -> None:
    prepare(db)
    calls = [
        {"type": "identify", "userId": user, "messageId": f"m-{user}", "context": context}
        for user, context in [
            ("holder", {"externalIds": [{"type": "ssn", "id": "111-22"}]}),
            ("keeper", {"externalIds": [{"type": "ssn", "id": "111-22"}]}),
            ("other-holder", {"externalIds": [{"type": "ssn", "id": "333-44"}]}),
            ("other-keeper", {"externalIds": [{"type": "ssn", "id": "333-44"}]}),
        ]
    ]
    with db.sessions.begin() as session:
        result = ingest(session, db, source="test", messages=calls, default_region="FR")
    assert result.identifier_conflicts == 2
    with db.read_sessions() as session:
        owners = {
            bytes(value): customer
            for value, customer in session.execute(
                select(CustomerIdentity.value_index, CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == "user_id"
                )
            )
        }
    keeper, holder, other_keeper = (
        owners[db.index("user_id", user)] for user in ("keeper", "holder", "other-keeper")
    )

    with db.sessions.begin() as session:
        document = export_customer(
            session, db, customer_id=keeper, principal=DPO, reason="access request"
        )
    sections = {holder["name"]: holder["records"] for holder in document["holders"]}
    [kept] = sections["identity.identifier_conflicts"]
    assert (kept["kind"], kept["customer_id"], kept["owner_id"]) == (
        "ext:ssn",
        str(keeper),
        str(holder),
    )
    assert "value_index" not in kept

    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=holder, principal=DPO, reason="erasure request")
    with db.read_sessions() as session:
        left = list(session.scalars(select(IdentifierConflict.customer_id)))
    assert left == [other_keeper]  # the other pair's conflict stays

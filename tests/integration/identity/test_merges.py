"""Merges and un-merges on the real database: lineage, roots, history, audit, exact undo."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, PermissionDenied
from clientvault.identity.merges import merge_customers, merge_history, person_ids, unmerge
from clientvault.identity.models import Customer, CustomerIdentity, CustomerMerge, MatchCandidate
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.models import Event
from clientvault.privacy.models import ConsentRecord
from clientvault.security import audit
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.store.base import table_of
from clientvault.store.context import Store

REVIEWER = Principal.user(
    uuid.uuid4(), role="support", permissions=frozenset({"identity:review", "customers:read"})
)
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def dump(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every column of every row of the tables a merge could touch."""
    tables = [table_of(Customer), table_of(CustomerIdentity), table_of(Event)]
    tables.append(table_of(ConsentRecord))
    return {
        table.name: [
            tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))
        ]
        for table in tables
    }


_profiles = st.lists(
    st.fixed_dictionaries(
        {
            "first_name": st.sampled_from(["Ana", "Bo", "Chen", None]),
            "city": st.sampled_from(["Lyon", "Oslo", None]),
            "email": st.sampled_from(["a@example.com", "b@example.com", None]),
            "devices": st.lists(st.sampled_from(["d1", "d2", "d3"]), max_size=2),
            "events": st.integers(min_value=0, max_value=3),
            "consents": st.booleans(),
        }
    ),
    min_size=2,
    max_size=5,
)


def _create(db: Store, session: Session, profiles: list[dict[str, Any]]) -> list[uuid.UUID]:
    ids = create_customers(
        session,
        db,
        profiles=[
            CustomerCreate(first_name=p["first_name"], city=p["city"], email=p["email"])
            for p in profiles
        ],
        source="test",
        default_region="FR",
    )
    for number, (customer_id, profile) in enumerate(zip(ids, profiles, strict=True)):
        for device in profile["devices"]:
            session.add(
                CustomerIdentity(
                    customer_id=customer_id,
                    kind="device_id",
                    value_index=db.index("device_id", device),
                    first_seen_at=T0,
                    last_seen_at=T0,
                )
            )
        if profile["consents"]:
            session.add(
                ConsentRecord(
                    customer_id=customer_id,
                    purpose="marketing",
                    decision="granted",
                    policy_version="1",
                    channel="web",
                )
            )
        for index in range(profile["events"]):
            session.execute(
                insert(Event).values(
                    message_id=f"{uuid.uuid4()}",
                    type="track",
                    name="Viewed",
                    customer_id=customer_id,
                    occurred_at=T0 + timedelta(minutes=number * 10 + index),
                    properties={},
                    context={},
                )
            )
    session.flush()
    return ids


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profiles=_profiles, data=st.data())
def test_merges_then_unmerges_in_reverse_restore_every_row_exactly(
    db: Store, profiles: list[dict[str, Any]], data: st.DataObject
) -> None:
    with db.sessions.begin() as session:
        ids = _create(db, session, profiles)
    snapshots: list[dict[str, list[tuple[Any, ...]]]] = []
    merges: list[uuid.UUID] = []
    roots = list(ids)
    while len(roots) > 1 and data.draw(st.booleans(), label="merge again"):
        survivor = data.draw(st.sampled_from(roots), label="survivor")
        absorbed = data.draw(st.sampled_from([r for r in roots if r != survivor]), label="absorbed")
        # Name the absorbed person through any of its profiles (the merge finds the root).
        with db.sessions.begin() as session:
            snapshots.append(dump(session))
            absorbed_any = data.draw(st.sampled_from(person_ids(session, absorbed)))
            merges.append(
                merge_customers(
                    session,
                    db,
                    survivor_id=survivor,
                    absorbed_id=absorbed_any,
                    principal=REVIEWER,
                    reason="same person",
                )
            )
        roots.remove(absorbed)
        with db.sessions() as session:
            # This example's profiles only: examples share the database, and one that
            # hypothesis cut short (an overrun draw) leaves its merges in place.
            merged = session.scalars(
                select(Customer).where(Customer.status == "merged", Customer.id.in_(ids))
            ).all()
            # Every absorbed profile points at a root, never at another absorbed profile.
            assert {c.merged_into_id for c in merged} <= set(roots)
            assert all(session.get(Customer, r).merged_into_id is None for r in roots)
    for merge_id, before in zip(reversed(merges), reversed(snapshots), strict=True):
        with db.sessions.begin() as session:
            unmerge(session, db, merge_id=merge_id, principal=REVIEWER, reason="different people")
        with db.sessions() as session:
            assert dump(session) == before


def test_merge_keeps_consent_per_profile_and_is_audited(db: Store) -> None:
    profiles = [
        {
            "first_name": "Ana",
            "city": "Lyon",
            "email": None,
            "devices": [],
            "events": 1,
            "consents": True,
        },
        {
            "first_name": "Ana",
            "city": None,
            "email": None,
            "devices": [],
            "events": 2,
            "consents": False,
        },
    ]
    with db.sessions.begin() as session:
        survivor, absorbed = _create(db, session, profiles)
        consents_before = dump(session)["consent_ledger"]
        merge_id = merge_customers(
            session, db, survivor_id=survivor, absorbed_id=absorbed, principal=REVIEWER, reason="r"
        )
    with db.sessions() as session:
        assert dump(session)["consent_ledger"] == consents_before
        assert session.get(Customer, absorbed).status == "merged"
        assert person_ids(session, survivor) == [survivor, absorbed]
        [entry] = merge_history(session, customer_id=absorbed)
        assert (entry.id, entry.survivor_id, entry.undone_at) == (merge_id, survivor, None)
        actions = session.execute(
            select(AuditEntry.action, AuditEntry.target_id).where(
                AuditEntry.action.like("identity.%")
            )
        ).all()
        assert sorted(actions) == sorted(
            [("identity.merge", str(survivor)), ("identity.merge", str(absorbed))]
        )


def test_merge_rules(db: Store) -> None:
    profiles = [
        {
            "first_name": n,
            "city": None,
            "email": None,
            "devices": [],
            "events": 0,
            "consents": False,
        }
        for n in ("Ana", "Bo", "Chen")
    ]
    with db.sessions.begin() as session:
        a, b, c = _create(db, session, profiles)
    outsider = Principal.user(
        uuid.uuid4(), role="analyst", permissions=frozenset({"customers:read"})
    )
    with db.sessions.begin() as session, pytest.raises(PermissionDenied):
        merge_customers(session, db, survivor_id=a, absorbed_id=b, principal=outsider, reason="r")
    with db.sessions.begin() as session:
        first = merge_customers(
            session, db, survivor_id=b, absorbed_id=c, principal=REVIEWER, reason="r"
        )
    with db.sessions.begin() as session, pytest.raises(Conflict):
        merge_customers(session, db, survivor_id=c, absorbed_id=b, principal=REVIEWER, reason="r")
    with db.sessions.begin() as session:
        merge_customers(session, db, survivor_id=a, absorbed_id=c, principal=REVIEWER, reason="r")
    with db.sessions() as session:
        assert session.get(Customer, c).merged_into_id == a  # re-pointed to the root
    with db.sessions.begin() as session, pytest.raises(Conflict, match="later merge"):
        unmerge(session, db, merge_id=first, principal=REVIEWER, reason="r")


def test_merging_a_candidate_decides_it_and_unmerge_rejects_it(db: Store) -> None:
    profiles = [
        {
            "first_name": n,
            "city": None,
            "email": None,
            "devices": [],
            "events": 0,
            "consents": False,
        }
        for n in ("Ana", "Anna")
    ]
    with db.sessions.begin() as session:
        left, right = sorted(_create(db, session, profiles))
        candidate = MatchCandidate(
            left_id=left,
            right_id=right,
            match_probability=0.97,
            match_weight=5.1,
            explanation=[{"comparison": "first_name", "level": "jaro>0.9", "weight": 3.2}],
            model_version="t1",
        )
        session.add(candidate)
        session.flush()
        candidate_id = candidate.id
    robot = Principal.system("identity-resolution", "identity:review")
    with db.sessions.begin() as session:
        merge_id = merge_customers(
            session,
            db,
            survivor_id=left,
            absorbed_id=right,
            principal=robot,
            reason="match probability above threshold",
            candidate_id=candidate_id,
        )
    with db.sessions.begin() as session:
        assert session.get(MatchCandidate, candidate_id).status == "auto_merged"
        unmerge(session, db, merge_id=merge_id, principal=REVIEWER, reason="not the same")
    with db.sessions() as session:
        decided = session.get(MatchCandidate, candidate_id)
        assert (decided.status, decided.decided_by) == ("rejected", REVIEWER.id)


def test_decisions_survive_merging_and_unmerging_inside_one_audit_append(db: Store) -> None:
    """Inside ``audit.appending_together`` recording flushes nothing: what a merge and an
    un-merge change of a candidate must still be stored before they expire the session."""
    with db.sessions.begin() as session:
        left, right = sorted(
            create_customers(
                session,
                db,
                profiles=[CustomerCreate(first_name=n) for n in ("Ana", "Anna")],
                source="test",
                default_region="FR",
            )
        )
        candidate = MatchCandidate(
            left_id=left,
            right_id=right,
            match_probability=0.97,
            match_weight=5.1,
            explanation=[],
            model_version="t1",
        )
        session.add(candidate)
        session.flush()
        candidate_id = candidate.id
    with db.sessions.begin() as session, audit.appending_together(session):
        merge_id = merge_customers(
            session,
            db,
            survivor_id=left,
            absorbed_id=right,
            principal=REVIEWER,
            reason="same person",
            candidate_id=candidate_id,
        )
    with db.sessions() as session:
        merged = session.get(MatchCandidate, candidate_id)
        assert merged is not None
        assert (merged.status, merged.decided_by) == ("merged", REVIEWER.id)
    with db.sessions.begin() as session, audit.appending_together(session):
        unmerge(session, db, merge_id=merge_id, principal=REVIEWER, reason="not the same")
    with db.sessions() as session:
        rejected = session.get(MatchCandidate, candidate_id)
        assert rejected is not None
        assert rejected.status == "rejected"
        undone = session.get(CustomerMerge, merge_id)
        assert undone is not None
        assert undone.undo_reason == "not the same"
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("identity.%"))
        ).all()
        assert sorted(actions) == ["identity.merge"] * 2 + ["identity.unmerge"] * 2
        assert audit.verify(session).ok

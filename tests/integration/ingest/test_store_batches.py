"""Several calls stored as one (``store_batches``, the ingest writer's groups): each call gets
the result it would have had stored alone, one after the other."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from sqlalchemy import func, select

from clientvault.identity.models import Customer
from clientvault.ingest.models import Event
from clientvault.ingest.tracking import PreparedBatch, prepare_batch, store_batch, store_batches
from clientvault.privacy.consent import current_consents
from clientvault.store.context import Store


def _call(db: Store, *messages: dict[str, Any], source: str = "site") -> PreparedBatch:
    return prepare_batch(db, source=source, messages=list(messages), default_region="FR")


def _identify(user: str, message_id: str) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "messageId": message_id, "traits": {}}


def _track(user: str, message_id: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Viewed",
        "messageId": message_id,
        "properties": properties,
    }


def test_each_call_gets_its_own_result(db: Store) -> None:
    with db.sessions.begin() as session:
        store_batch(session, db, _call(db, _track("old", "m0")))
    calls = [
        (_call(db, _identify("ana", "m1"), _track("ana", "m2"), {"type": "nope"}), None),
        # m2 repeats the first call's, m0 an event stored before: both duplicates.
        (_call(db, _track("ana", "m2"), _track("ben", "m3"), _track("old", "m0")), None),
        (_call(db, _track("cyd", "m4", note="write to cyd@example.com")), None),
    ]
    with db.sessions.begin() as session:
        results = store_batches(session, db, calls)
    assert [(r.accepted, r.duplicates, len(r.rejected)) for r in results] == [
        (2, 0, 1),
        (1, 2, 0),
        (1, 0, 0),
    ]
    assert [r.customers_created for r in results] == [1, 1, 1]
    assert [r.scrubbed for r in results] == [{}, {}, {"email": 1}]
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 5
        assert session.scalar(select(func.count()).select_from(Customer)) == 4


def test_gpc_opts_out_only_the_customers_of_the_call_that_sent_it(db: Store) -> None:
    calls = [
        (_call(db, _identify("gpc", "g1")), "2026-01"),
        (_call(db, _identify("plain", "p1")), None),
    ]
    with db.sessions.begin() as session:
        store_batches(session, db, calls)
    with db.read_sessions() as session:
        by_message = dict(session.execute(select(Event.message_id, Event.customer_id)).all())
        opted_out = current_consents(session, customer_id=by_message["g1"])
        untouched = current_consents(session, customer_id=by_message["p1"])
    assert not opted_out["sale_share"].granted
    assert "sale_share" not in untouched


def test_calls_of_several_sources_are_not_stored_as_one(db: Store) -> None:
    calls = [
        (_call(db, _track("a", "s1")), None),
        (_call(db, _track("b", "s2"), source="app"), None),
    ]
    with db.sessions.begin() as session, pytest.raises(ValueError, match="one source"):
        store_batches(session, db, calls)


def test_a_prepared_call_survives_the_trip_to_the_writer_unchanged(db: Store) -> None:
    # The writer process receives calls pickled: every field of every message, the profile
    # of an identify and its scrub counts included, arrives as it was prepared.
    identify = {
        "type": "identify",
        "userId": "ana",
        "anonymousId": "anon-1",
        "messageId": "m1",
        "traits": {"email": "Ana@Example.com", "phone": "+33 6 12 34 56 78", "plan": "pro"},
    }
    batch = _call(db, identify, _track("ana", "m2", note="mail me at ana@example.com"))
    received = pickle.loads(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
    assert received == batch
    assert received.items[0].profile is not None
    assert received.items[1].scrubbed == {"email": 1}
    assert all(type(value) is not memoryview for item in received.items for value in item.row)


def test_a_call_indexes_each_identifier_once_and_digests_it_once(db: Store) -> None:
    # An SDK batches one device's events: they share their user's blind index and tombstone
    # digests, computed once per call (and pickled once on the way to the writer).
    batch = _call(db, _track("ana", "s1"), _track("ana", "s2"), _track("ben", "s3"))
    ana, ana_again, ben = batch.items
    assert ana.identifiers["user_id"] is ana_again.identifiers["user_id"]
    assert ana.identifiers["user_id"] == db.index("user_id", "ana")
    assert ben.identifiers["user_id"] == db.index("user_id", "ben")
    assert ana.tombstones == ana_again.tombstones
    assert next(iter(ana.tombstones)) is next(iter(ana_again.tombstones))
    assert ana.tombstones.isdisjoint(ben.tombstones)

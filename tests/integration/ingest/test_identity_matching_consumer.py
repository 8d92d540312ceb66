"""The identity-matching consumer: identify calls lead to incremental matching off the
request path (``identity.incremental``, tested on its own in tests/integration/identity):
the profile's blocking keys appear once the consumer ran, not while ingesting."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select

from clientvault.identity.matching.models import MatchBlockingKey
from clientvault.ingest import identity_matching
from clientvault.ingest.consumers import drain, position
from clientvault.ingest.tracking import ingest
from clientvault.security import audit
from clientvault.security.models import AuditEntry
from clientvault.store.context import Store


def _identify(store: Store, calls: list[dict[str, Any]]) -> None:
    with store.sessions.begin() as session:
        result = ingest(session, store, source="test", messages=calls, default_region="FR")
    assert not result.rejected


def _count(store: Store, model: Any) -> int:
    with store.read_sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_identify_calls_get_blocking_keys_without_touching_the_request(db: Store) -> None:
    _identify(
        db,
        [
            {
                "type": "identify",
                "userId": "u-1",
                "messageId": "m-1",
                "traits": {"email": "ada.l@example.com", "firstName": "Ada", "lastName": "L"},
            },
            {"type": "track", "userId": "u-1", "event": "Viewed", "messageId": "m-2"},
        ],
    )
    assert _count(db, MatchBlockingKey) == 0  # nothing done while ingesting
    assert drain(db, identity_matching.CONSUMER) > 0
    assert _count(db, MatchBlockingKey) > 0
    assert position(db, "identity-matching") > 0
    assert drain(db, identity_matching.CONSUMER) == 0  # caught up; a replay adds nothing


def test_a_batchs_audit_entries_are_appended_once_and_chain(db: Store) -> None:
    people = [("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")]
    _identify(
        db,
        [
            {
                "type": "identify",
                "userId": f"u-{n}",
                "messageId": f"a-{n}",
                "traits": {
                    "email": f"{first.lower()}@example.com",
                    "firstName": first,
                    "lastName": last,
                },
            }
            for n, (first, last) in enumerate(people)
        ],
    )
    inserts: list[str] = []

    def record(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
            inserts.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        drain(db, identity_matching.CONSUMER)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    with db.read_sessions() as session:
        reveals = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "pii.reveal")
        )
        assert audit.verify(session).ok
    assert reveals == len(people)  # each profile opened through the audited path
    assert len(inserts) == 1

"""The identity-matching consumer: identify calls lead to incremental matching off the
request path (``identity.incremental``, tested on its own in tests/integration/identity):
the profile's blocking keys appear once the consumer ran, not while ingesting."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from clientvault.identity.matching_models import MatchBlockingKey
from clientvault.ingest import identity_matching
from clientvault.ingest.consumers import drain, position
from clientvault.ingest.tracking import ingest
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

"""``audit.appending_together``: the entries of a job step written in one append."""

from __future__ import annotations

import uuid
from contextlib import suppress

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.security import audit
from clientvault.security.models import AuditEntry
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.context import Store

JOB = Principal.system("test-job", PII_REVEAL)


def _record(session: Session, action: str, *targets: str) -> None:
    audit.record(
        session,
        principal=JOB,
        action=action,
        target_type="customer",
        target_ids=targets,
        reason="test",
    )


def _entries(db: Store) -> list[AuditEntry]:
    with db.read_sessions() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_entries_recorded_in_the_block_are_appended_together_in_order(db: Store) -> None:
    with db.sessions.begin() as session:
        _record(session, "before", "a")
    targets = [str(uuid.uuid4()) for _ in range(3)]
    with db.sessions.begin() as session:
        with audit.appending_together(session):
            _record(session, "pii.reveal", targets[0], targets[1])
            _record(session, "identity.merge", targets[2])
            assert [e.action for e in _entries(db)] == ["before"]  # held back until the end
        _record(session, "after", "b")  # outside the block: appended at once, after them
    entries = _entries(db)
    assert [(e.action, e.target_id) for e in entries] == [
        ("before", "a"),
        ("pii.reveal", targets[0]),
        ("pii.reveal", targets[1]),
        ("identity.merge", targets[2]),
        ("after", "b"),
    ]
    assert len({e.occurred_at for e in entries[1:4]}) == 1  # one append
    assert entries[1].previous_hash == entries[0].entry_hash
    with db.read_sessions() as session:
        verification = audit.verify(session)
    assert verification.ok
    assert verification.entries == 5


def test_a_block_inside_another_adds_to_the_outer_append(db: Store) -> None:
    with db.sessions.begin() as session, audit.appending_together(session):
        _record(session, "outer", "a")
        with audit.appending_together(session):
            _record(session, "inner", "b")
        assert _entries(db) == []
        _record(session, "outer", "c")
    entries = _entries(db)
    assert [e.target_id for e in entries] == ["a", "b", "c"]
    assert len({e.occurred_at for e in entries}) == 1
    with db.read_sessions() as session:
        assert audit.verify(session).ok


def test_a_block_that_raises_is_appended_all_the_same(db: Store) -> None:
    """A caller that catches the failure and commits still commits the entries."""
    with db.sessions.begin() as session:
        with suppress(RuntimeError), audit.appending_together(session):
            _record(session, "pii.reveal", "a")
            raise RuntimeError("the job step failed after revealing")
        _record(session, "after", "b")
    assert [e.target_id for e in _entries(db)] == ["a", "b"]
    with db.read_sessions() as session:
        assert audit.verify(session).ok

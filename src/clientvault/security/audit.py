"""The audit log: append-only and hash-chained, with ids and reasons only, never PII.

Each entry's hash covers the previous entry's hash and a canonical form of the entry, so
editing, deleting or reordering any entry breaks the chain from that point; ``verify`` names
the first broken link. Deleting entries at the end leaves a valid but shorter chain, which is
why the head hash can be exported and kept elsewhere, and checked with ``expected_head``.
On PostgreSQL a trigger also refuses UPDATE and DELETE on the table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.store.base import table_of, utcnow

GENESIS = "0" * 64
#: Serialises appends on PostgreSQL (SQLite's single writer already does).
_AUDIT_LOCK = 7_242_002
_ENTRIES = table_of(AuditEntry)
#: ``Session.info`` key of the entries an ``appending_together`` block holds back.
_PENDING = "clientvault.audit.pending"


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash covers: every field but the hashes, in a fixed form."""
    occurred = entry.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    document = {
        "occurred_at": occurred,
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "reason": entry.reason,
        "details": entry.details,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(previous_hash: str, entry: AuditEntry) -> str:
    """The hash of an entry given the hash of the one before it."""
    return hashlib.sha256(previous_hash.encode("ascii") + b"\n" + canonical(entry)).hexdigest()


def head(session: Session) -> str:
    """The hash of the newest entry (the genesis value for an empty log)."""
    entries = _ENTRIES.c
    newest = session.scalar(select(entries.entry_hash).order_by(entries.id.desc()).limit(1))
    return newest or GENESIS


def record(
    session: Session,
    *,
    principal: Principal,
    action: str,
    target_type: str | None = None,
    target_ids: Iterable[str] = (),
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry per target (or one without a target) in the caller's transaction.

    Inside an ``appending_together`` block the entries are appended when the block ends,
    with those recorded before and after them in the block."""
    targets: list[str | None] = [*target_ids] or [None]
    rows = [
        {
            "actor_kind": principal.kind,
            "actor_id": principal.id,
            "action": action,
            "target_type": target_type,
            "target_id": target,
            "reason": reason,
            "details": dict(details or {}),
        }
        for target in targets
    ]
    pending: list[dict[str, Any]] | None = session.info.get(_PENDING)
    if pending is None:
        _append(session, rows)
    else:
        pending.extend(rows)


@contextmanager
def appending_together(session: Session) -> Iterator[None]:
    """Append every entry ``record`` makes inside the block in one append when it ends.

    Why: an append is three statements (on PostgreSQL three round trips: the lock, the chain
    head, the insert); a job step that records several times, such as an identity match that
    reveals profiles and then merges two, pays them once. The entries and their order are
    those separate appends would have written, chained the same way; they all carry the time
    of the one append. They are appended also when the block raises (as ``pii.revealing``
    does), so a caller that catches the error and commits still commits them; until the block
    ends, they are not in the table, and ``record`` does not flush the session (code that
    expires the session's objects after recording flushes first). A block inside another adds
    to the outer one's append.
    """
    if _PENDING in session.info:
        yield
        return
    pending: list[dict[str, Any]] = []
    session.info[_PENDING] = pending
    try:
        yield
    finally:
        del session.info[_PENDING]
        if pending:
            _append(session, pending)


def _append(session: Session, rows: list[dict[str, Any]]) -> None:
    """Chain these entries after the current head and insert them, in one statement."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK})
    session.flush()
    previous = head(session)
    now = utcnow()
    for row in rows:
        row["occurred_at"] = now
        row["previous_hash"] = previous
        row["entry_hash"] = previous = chain_hash(previous, AuditEntry(**row))
    # One multi-row INSERT through Core: the ORM's bulk path (``insert(AuditEntry)``) was a
    # third of an append's time, every reveal and merge paying for it.
    session.execute(insert(_ENTRIES), rows)


@dataclass(frozen=True)
class Verification:
    """The outcome of checking the chain: how many entries, and the first broken one."""

    entries: int
    head: str
    broken_at: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the whole chain is intact."""
        return self.broken_at is None and self.problem is None


def verify(
    session: Session, *, expected_head: str | None = None, batch: int = 5000
) -> Verification:
    """Walk the chain in id order; report the first entry whose link or hash is wrong.

    ``expected_head``, a head exported earlier, must still be in the chain: if it is not,
    entries up to it were removed or rewritten.
    """
    previous = GENESIS
    found_expected = expected_head in (None, GENESIS)
    count = 0
    last_id = 0
    while True:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not entries:
            break
        for entry in entries:
            count += 1
            if entry.previous_hash != previous:
                return Verification(
                    count, previous, entry.id, "does not follow the entry before it"
                )
            if chain_hash(previous, entry) != entry.entry_hash:
                return Verification(count, previous, entry.id, "its content was changed")
            previous = entry.entry_hash
            found_expected = found_expected or previous == expected_head
            last_id = entry.id
    if not found_expected:
        return Verification(count, previous, None, "the exported head is no longer in the chain")
    return Verification(count, previous)

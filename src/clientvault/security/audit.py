"""The audit log: append-only and hash-chained, with ids and reasons only, never PII.

Each entry's hash is an HMAC-SHA256, under the audit key, of the previous entry's hash and a
canonical form of the entry, so editing, deleting or reordering any entry breaks the chain
from that point; ``verify`` names the first broken link. The audit key is derived from the
key file (``KeyMaterial.audit_key``), never stored in the database: whoever holds only the
database file can drop the append-only triggers and delete rows, but cannot write hashes
that verify, so a rewritten chain no longer passes. Cutting off the newest entries leaves a
valid but shorter chain: signed checkpoints of the head kept off the machine
(``security.audit_checkpoints``) catch that, and so does a head exported by hand and checked
with ``expected_head``. On both databases a trigger also refuses UPDATE and DELETE.

Chains written before keyed hashes (plain SHA-256, whose code is public, so anyone could
recompute them) are kept as they are, never rewritten: the first append under the key (or
``seal``, which ``clientvault migrate`` runs) adds an ``audit.chain_sealed`` entry whose keyed
hash covers the old head, so from then on the old entries cannot be changed either; before
that moment they were only as safe as the plain chain was. ``verify`` reports how many
entries precede the seal. A chain none of whose entries is keyed is reported as broken.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from clientvault.errors import ConfigurationError
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.store.base import table_of, utcnow
from clientvault.store.context import AUDIT_KEY_INFO

GENESIS = "0" * 64
#: The action of the entry that seals a chain written before keyed hashes.
SEALED = "audit.chain_sealed"
_SEALER = Principal.system("audit")
#: Serialises appends on PostgreSQL (SQLite's single writer already does).
_AUDIT_LOCK = 7_242_002
_ENTRIES = table_of(AuditEntry)
#: ``Session.info`` key of the entries an ``appending_together`` block holds back.
_PENDING = "clientvault.audit.pending"
#: The newest hash this process appended under each audit key: a head equal to it is keyed
#: without recomputing its HMAC (most appends, in a process that writes the log alone). An
#: entry's hash covers its predecessor and content, so a head with that hash is that entry.
_appended: dict[bytes, str] = {}


class ChainedEntry(Protocol):
    """What an entry's hash covers: an ``AuditEntry`` or a row of its columns."""

    @property
    def occurred_at(self) -> datetime: ...
    @property
    def actor_kind(self) -> str: ...
    @property
    def actor_id(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target_type(self) -> str | None: ...
    @property
    def target_id(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def previous_hash(self) -> str: ...
    @property
    def entry_hash(self) -> str: ...


def canonical(entry: ChainedEntry) -> bytes:
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


def chain_hash(key: bytes, previous_hash: str, entry: ChainedEntry) -> str:
    """The keyed hash of an entry given the hash of the one before it."""
    return hmac.new(key, _message(previous_hash, entry), hashlib.sha256).hexdigest()


def legacy_hash(previous_hash: str, entry: ChainedEntry) -> str:
    """The unkeyed hash that entries had before the chain was keyed (checked, never written)."""
    return hashlib.sha256(_message(previous_hash, entry)).hexdigest()


def _message(previous_hash: str, entry: ChainedEntry) -> bytes:
    return previous_hash.encode("ascii") + b"\n" + canonical(entry)


def _is_keyed(key: bytes, previous_hash: str, entry: ChainedEntry) -> bool:
    return hmac.compare_digest(chain_hash(key, previous_hash, entry), entry.entry_hash)


def audit_key(session: Session) -> bytes:
    """The audit key of the store that opened this session; refuses a session without one,
    so that no entry is ever written, or checked, without it."""
    key = session.info.get(AUDIT_KEY_INFO)
    if not isinstance(key, bytes):
        raise ConfigurationError(
            "this session was not opened by a store: the audit chain needs the key file's key"
        )
    return key


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


def seal(session: Session) -> None:
    """Seal a chain written before keyed hashes, in the caller's transaction: append the
    ``audit.chain_sealed`` entry if the newest entry is not keyed (nothing otherwise)."""
    _append(session, [])


def _append(session: Session, rows: list[dict[str, Any]]) -> None:
    """Chain these entries after the current head and insert them, in one statement; seal
    the chain first if its head is not keyed (a chain written before keyed hashes)."""
    key = audit_key(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK})
    session.flush()
    newest = session.execute(select(_ENTRIES).order_by(_ENTRIES.c.id.desc()).limit(1)).first()
    previous = GENESIS if newest is None else newest.entry_hash
    if (
        newest is not None
        and _appended.get(key) != previous
        and not _is_keyed(key, newest.previous_hash, newest)
    ):
        rows = [_seal_row(session), *rows]
    if not rows:
        return
    now = utcnow()
    for row in rows:
        row["occurred_at"] = now
        row["previous_hash"] = previous
        row["entry_hash"] = previous = chain_hash(key, previous, AuditEntry(**row))
    # One multi-row INSERT through Core: the ORM's bulk path (``insert(AuditEntry)``) was a
    # third of an append's time, every reveal and merge paying for it.
    session.execute(insert(_ENTRIES), rows)
    _appended[key] = previous


def _seal_row(session: Session) -> dict[str, Any]:
    legacy = session.scalar(select(func.count()).select_from(_ENTRIES)) or 0
    return {
        "actor_kind": _SEALER.kind,
        "actor_id": _SEALER.id,
        "action": SEALED,
        "target_type": None,
        "target_id": None,
        "reason": "entries written before keyed hashes, sealed under the audit key",
        "details": {"legacy_entries": legacy},
    }


#: What ``verify`` says of a broken chain.
CHANGED = "its content was changed"
OUT_OF_PLACE = "does not follow the entry before it"
NOT_CHECKPOINTED = "its hash is not the one a signed checkpoint holds for it"
NOT_KEYED = (
    "no entry is keyed with this installation's audit key: the chain was rewritten by "
    "someone without the key file, or written before keyed hashes and never sealed since "
    "(`clientvault migrate` seals it)"
)
HEAD_GONE = "the exported head is no longer in the chain"
CUT_OFF = "the chain ends before the entry of a signed checkpoint: its newest entries were cut off"
MISSING = "an entry a signed checkpoint holds is gone"


@dataclass(frozen=True)
class Verification:
    """The outcome of checking the chain: how many entries, and the first broken one.

    ``legacy_entries`` precede the seal (written before keyed hashes); ``checkpoints`` is how
    many signed checkpoints the chain was checked against."""

    entries: int
    head: str
    broken_at: int | None = None
    problem: str | None = None
    legacy_entries: int = 0
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        """Whether the whole chain is intact."""
        return self.broken_at is None and self.problem is None


def verify(
    session: Session,
    *,
    expected_head: str | None = None,
    checkpoints: Mapping[int, str] | None = None,
    batch: int = 5000,
) -> Verification:
    """Walk the chain in id order; report the first entry whose link or hash is wrong.

    ``checkpoints`` (entry id → head, from signed checkpoints whose signatures the caller
    checked) must each be on the chain at their entry: a chain that ends before one was cut
    off. ``expected_head``, a head exported earlier, must still be in the chain: if it is
    not, entries up to it were removed or rewritten.
    """
    key = audit_key(session)
    anchors = dict(checkpoints or {})
    previous = GENESIS
    found_expected = expected_head in (None, GENESIS)
    keyed = False
    count = legacy = 0
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
                return Verification(count, previous, entry.id, OUT_OF_PLACE, legacy)
            if keyed:
                intact = _is_keyed(key, previous, entry)
            elif count == 1 or entry.action == SEALED:
                # Keyed from the first entry (new chains) or from the seal (older ones) on;
                # a seal must be keyed, a first entry may be a legacy one.
                keyed = intact = _is_keyed(key, previous, entry)
                if not keyed and entry.action != SEALED:
                    intact = _is_legacy(previous, entry)
            else:
                intact = _is_legacy(previous, entry)
            if not intact:
                return Verification(count, previous, entry.id, CHANGED, legacy)
            if not keyed:
                legacy += 1
            if anchors.pop(entry.id, entry.entry_hash) != entry.entry_hash:
                return Verification(count, previous, entry.id, NOT_CHECKPOINTED, legacy)
            previous = entry.entry_hash
            found_expected = found_expected or previous == expected_head
            last_id = entry.id
    checked = len(checkpoints or {}) - len(anchors)
    problem = None
    if count and not keyed:
        problem = NOT_KEYED
    elif anchors:  # checkpoints whose entries the walk never met
        problem = CUT_OFF if max(anchors) > last_id else MISSING
    elif not found_expected:
        problem = HEAD_GONE
    return Verification(count, previous, None, problem, legacy, checked)


def _is_legacy(previous: str, entry: AuditEntry) -> bool:
    return hmac.compare_digest(legacy_hash(previous, entry), entry.entry_hash)

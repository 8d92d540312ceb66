"""The audit chain catches tampering at the right entry, and every PII decrypt is audited.

Tampering is done the way an insider with database access would do it, never through the
application (``support.audit_tampering``): both databases refuse UPDATE and DELETE on the
audit log outright (append-only triggers, tested last), so the triggers are dropped from a
copy of the SQLite file, or disabled by PostgreSQL's table owner in a transaction rolled back
afterwards. Each case checks that ``verify`` names exactly the first broken entry.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from clientvault.errors import ConfigurationError, PermissionDenied
from clientvault.identity.profiles import create_customers, reveal_identifiers
from clientvault.identity.schemas import CustomerCreate
from clientvault.security import audit
from clientvault.security.models import AuditEntry
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.audit_tampering import Tamperer

ENTRIES = 12
CHANGED = audit.CHANGED
OUT_OF_PLACE = audit.OUT_OF_PLACE


def _fill(db: Store) -> list[int]:
    """``ENTRIES`` entries, one transaction each as real actions are, from two actors."""
    staff = Principal.user(uuid.uuid4(), role="support", permissions=frozenset({PII_REVEAL}))
    job = Principal.system("retention")
    for i in range(ENTRIES):
        with db.sessions.begin() as session:
            audit.record(
                session,
                principal=staff if i % 2 else job,
                action=("pii.reveal", "export.created", "role.changed")[i % 3],
                target_type="customer",
                target_ids=[str(uuid.uuid4())],
                reason=f"case {i}",
                details={"fields": ["email", "phone"][: 1 + i % 2]},
            )
    with db.sessions() as session:
        ids = list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))
        assert audit.verify(session).ok
    assert len(ids) >= ENTRIES
    return ids


@dataclass(frozen=True)
class Case:
    """One tampering: SQL (per dialect when they differ) on chosen entries, and where
    ``verify`` must report the break."""

    sql: str | dict[str, str]
    pick: Callable[[list[int]], dict[str, int]]
    broken_at: Callable[[list[int]], int]
    problem: str


def _first(ids: list[int]) -> int:
    return ids[0]


def _middle(ids: list[int]) -> int:
    return ids[len(ids) // 2]


def _last(ids: list[int]) -> int:
    return ids[-1]


def _edit(sql: str | dict[str, str], where: Callable[[list[int]], int]) -> Case:
    return Case(sql, lambda ids: {"a": where(ids)}, where, CHANGED)


def _after(where: Callable[[list[int]], int]) -> Callable[[list[int]], int]:
    return lambda ids: ids[ids.index(where(ids)) + 1]


_SWAP = [
    "UPDATE audit_log SET id = -1 WHERE id = :a",
    "UPDATE audit_log SET id = :a WHERE id = :b",
    "UPDATE audit_log SET id = :b WHERE id = -1",
]
_SHIFT_TIME = {
    "sqlite": "UPDATE audit_log SET occurred_at = datetime(occurred_at, '+1 second') WHERE id = :a",
    "postgresql": "UPDATE audit_log SET occurred_at = occurred_at + interval '1 second' "
    "WHERE id = :a",
}
_DROP_FIELD = {
    "sqlite": "UPDATE audit_log SET details = json_set(details, '$.fields', json('[]')) "
    "WHERE id = :a",
    "postgresql": "UPDATE audit_log SET details = jsonb_set(details, '{fields}', '[]'::jsonb) "
    "WHERE id = :a",
}

CASES = {
    "edit reason of the first": _edit("UPDATE audit_log SET reason = 'x' WHERE id = :a", _first),
    "edit actor of a middle one": _edit(
        "UPDATE audit_log SET actor_id = 'someone-else' WHERE id = :a", _middle
    ),
    "edit action of the last": _edit(
        "UPDATE audit_log SET action = 'login.succeeded' WHERE id = :a", _last
    ),
    "edit target of a middle one": _edit(
        "UPDATE audit_log SET target_id = 'another-customer' WHERE id = :a", _middle
    ),
    "hide the fields revealed": _edit(_DROP_FIELD, _middle),
    "shift the time by a second": _edit(_SHIFT_TIME, _middle),
    "blank the reason": _edit("UPDATE audit_log SET reason = NULL WHERE id = :a", _first),
    "delete the first": Case(
        "DELETE FROM audit_log WHERE id = :a",
        lambda ids: {"a": ids[0]},
        _after(_first),
        OUT_OF_PLACE,
    ),
    "delete a middle one": Case(
        "DELETE FROM audit_log WHERE id = :a",
        lambda ids: {"a": _middle(ids)},
        _after(_middle),
        OUT_OF_PLACE,
    ),
    "delete three in the middle": Case(
        "DELETE FROM audit_log WHERE id BETWEEN :a AND :b",
        lambda ids: {"a": ids[3], "b": ids[5]},
        lambda ids: ids[6],
        OUT_OF_PLACE,
    ),
    "swap two neighbours": Case(
        _SWAP, lambda ids: {"a": ids[4], "b": ids[5]}, lambda ids: ids[4], OUT_OF_PLACE
    ),
    "swap two far apart": Case(
        _SWAP, lambda ids: {"a": ids[1], "b": ids[-2]}, lambda ids: ids[1], OUT_OF_PLACE
    ),
    "swap the last two": Case(
        _SWAP, lambda ids: {"a": ids[-2], "b": ids[-1]}, lambda ids: ids[-2], OUT_OF_PLACE
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_tampering_is_reported_at_the_first_broken_entry(
    db: Store, tamper: Callable[[], Tamperer], name: str
) -> None:
    ids = _fill(db)
    copy = tamper()
    case = CASES[name]
    statements = case.sql[copy.dialect] if isinstance(case.sql, dict) else case.sql
    for statement in [statements] if isinstance(statements, str) else statements:
        copy.execute(statement, **case.pick(ids))

    result = copy.verify()

    assert not result.ok
    assert (result.broken_at, result.problem) == (case.broken_at(ids), case.problem)
    assert result.entries == ids.index(case.broken_at(ids)) + 1 - _removed_before(name)


def _removed_before(name: str) -> int:
    """Entries deleted before the broken one (``entries`` counts what is left)."""
    return {"delete the first": 1, "delete a middle one": 1, "delete three in the middle": 3}.get(
        name, 0
    )


def test_the_untouched_copy_verifies(db: Store, tamper: Callable[[], Tamperer]) -> None:
    ids = _fill(db)
    with db.sessions() as session:
        head = audit.head(session)
    copy = tamper()
    result = copy.verify(expected_head=head)
    assert result.ok
    assert (result.entries, result.head) == (len(ids), head)


@pytest.mark.parametrize("cut", [1, 3])
def test_deleting_the_newest_entries_is_caught_by_the_exported_head(
    db: Store, tamper: Callable[[], Tamperer], cut: int
) -> None:
    ids = _fill(db)
    with db.sessions() as session:
        exported = audit.head(session)
    copy = tamper()
    copy.execute("DELETE FROM audit_log WHERE id >= :a", a=ids[-cut])

    assert copy.verify().ok  # a shorter chain is valid on its own...
    result = copy.verify(expected_head=exported)  # ...but no longer holds the exported head
    assert not result.ok
    assert result.broken_at is None
    assert result.entries == len(ids) - cut
    assert "no longer in the chain" in (result.problem or "")


def test_a_forger_who_rehashes_one_entry_with_the_public_code_is_caught_at_it(
    db: Store, tamper: Callable[[], Tamperer]
) -> None:
    ids = _fill(db)
    target = _middle(ids)
    copy = tamper()
    with copy.session() as session, session.begin():
        entry = session.get(AuditEntry, target)
        assert entry is not None
        entry.reason = "routine check"
        entry.entry_hash = audit.legacy_hash(entry.previous_hash, entry)

    result = copy.verify()
    assert (result.broken_at, result.problem) == (target, CHANGED)


def test_a_forger_who_rehashes_the_whole_tail_is_caught_without_an_exported_head(
    db: Store, tamper: Callable[[], Tamperer]
) -> None:
    ids = _fill(db)
    copy = tamper()
    with copy.session() as session, session.begin():
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.id >= _middle(ids)).order_by(AuditEntry.id)
        ).all()
        previous = entries[0].previous_hash
        entries[0].reason = "routine check"
        for entry in entries:  # recompute every hash from there on
            entry.previous_hash = previous
            entry.entry_hash = previous = audit.legacy_hash(previous, entry)

    result = copy.verify()
    assert (result.broken_at, result.problem) == (_middle(ids), CHANGED)


#: How a forger without the key file might recompute the chain: with the public (formerly
#: used) SHA-256 code, or with the public HMAC code under a key they guess.
FORGERS: dict[str, Callable[[str, AuditEntry], str]] = {
    "public sha-256": audit.legacy_hash,
    "hmac under a guessed key": functools.partial(audit.chain_hash, bytes(32)),
}


@pytest.mark.parametrize("forger", list(FORGERS))
def test_dropping_the_triggers_deleting_every_reveal_and_rehashing_is_detected(
    db: Store, tamper: Callable[[], Tamperer], forger: str
) -> None:
    """Issue 16, finding 5: the exact attack, caught by ``verify`` with no exported head."""
    ids = _fill(db)
    copy = tamper()  # the triggers are dropped (SQLite) or disabled (PostgreSQL)
    with copy.session() as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.action.like("pii.%")))
        previous = audit.GENESIS
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all():
            entry.previous_hash = previous
            entry.entry_hash = previous = FORGERS[forger](previous, entry)
        kept = session.scalar(select(func.count()).select_from(AuditEntry))
        assert kept == len(ids) - len(ids[::3])  # every pii.reveal is gone

    result = copy.verify()
    assert not result.ok
    if forger == "public sha-256":  # a chain of valid legacy links, but none keyed
        assert (result.broken_at, result.problem) == (None, audit.NOT_KEYED)
    else:
        assert (result.broken_at, result.problem) == (ids[1], CHANGED)


# ---- a chain written before keyed hashes (an upgraded installation) --------------------------


def _write_legacy(db: Store, count: int) -> list[int]:
    """Entries as the previous version wrote them: chained with plain SHA-256."""
    with db.sessions.begin() as session:
        previous = audit.GENESIS
        for i in range(count):
            row: dict[str, Any] = {
                "occurred_at": utcnow(),
                "actor_kind": "system",
                "actor_id": "retention",
                "action": "export.created",
                "target_type": "customer",
                "target_id": str(uuid.uuid4()),
                "reason": f"old case {i}",
                "details": {},
                "previous_hash": previous,
            }
            row["entry_hash"] = previous = audit.legacy_hash(previous, AuditEntry(**row))
            session.execute(insert(AuditEntry), [row])
        return list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def test_a_legacy_chain_is_sealed_not_rewritten_and_stays_checkable(db: Store) -> None:
    legacy_ids = _write_legacy(db, 4)
    with db.sessions() as session:
        before = audit.verify(session)
        legacy_rows = [audit.canonical(e) for e in session.scalars(select(AuditEntry))]
    assert (before.ok, before.problem) == (False, audit.NOT_KEYED)  # until it is sealed

    with db.sessions.begin() as session:  # the first append under the key seals it
        audit.record(session, principal=Principal.system("test"), action="export.created")
    with db.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        result = audit.verify(session)
        # the old entries are untouched, byte for byte
        assert [audit.canonical(e) for e in entries[:4]] == legacy_rows
    assert result.ok, result
    assert (result.entries, result.legacy_entries) == (6, 4)
    seal = entries[4]
    assert (seal.action, seal.details, seal.previous_hash) == (
        audit.SEALED,
        {"legacy_entries": 4},
        entries[3].entry_hash,
    )
    assert entries[5].action == "export.created"
    assert legacy_ids == [e.id for e in entries[:4]]


def test_rewriting_sealed_legacy_entries_breaks_the_seal(
    db: Store, tamper: Callable[[], Tamperer]
) -> None:
    legacy_ids = _write_legacy(db, 4)
    with db.sessions.begin() as session:
        audit.seal(session)
        audit.seal(session)  # sealing twice adds nothing
    copy = tamper()
    with copy.session() as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.id == legacy_ids[1]))
        previous = audit.GENESIS
        for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.action != audit.SEALED).order_by(AuditEntry.id)
        ).all():
            entry.previous_hash = previous
            entry.entry_hash = previous = audit.legacy_hash(previous, entry)
        seal_id = session.scalar(select(AuditEntry.id).where(AuditEntry.action == audit.SEALED))

    result = copy.verify()
    assert (result.broken_at, result.problem) == (seal_id, OUT_OF_PLACE)


def test_a_forged_seal_is_refused(db: Store, tamper: Callable[[], Tamperer]) -> None:
    """A seal written with the public code does not pass for one made under the key."""
    _write_legacy(db, 2)
    copy = tamper()
    with copy.session() as session, session.begin():
        newest = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert newest is not None
        row: dict[str, Any] = {
            "occurred_at": utcnow(),
            "actor_kind": "system",
            "actor_id": "audit",
            "action": audit.SEALED,
            "details": {"legacy_entries": 2},
            "previous_hash": newest.entry_hash,
        }
        row["entry_hash"] = audit.legacy_hash(newest.entry_hash, AuditEntry(**row))
        session.execute(insert(AuditEntry), [row])
        forged = session.scalar(select(AuditEntry.id).where(AuditEntry.action == audit.SEALED))
    result = copy.verify()
    assert (result.broken_at, result.problem) == (forged, CHANGED)


def test_a_session_without_the_audit_key_cannot_write_or_check(db: Store) -> None:
    with Session(db.engine) as session, pytest.raises(ConfigurationError, match="key file"):
        audit.record(session, principal=Principal.system("test"), action="export.created")
    with Session(db.engine) as session, pytest.raises(ConfigurationError, match="key file"):
        audit.verify(session)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET reason = 'x' WHERE id = :a", "DELETE FROM audit_log WHERE id = :a"],
)
def test_the_database_refuses_to_change_the_audit_log(db: Store, statement: str) -> None:
    ids = _fill(db)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text(statement), {"a": ids[0]})
    with db.sessions() as session:
        result = audit.verify(session)
    assert result.ok
    assert result.entries == len(ids)


# ---- every decrypt of PII leaves an entry ----------------------------------------------------

PEOPLE = [
    CustomerCreate(
        email=f"audit.canary.{i}@example.com",
        phone=f"+33 6 12 34 56 {i:02d}",
        first_name=f"Zephyrine{i}",
        last_name=f"Quaglietti{i}",
        city="Lyon",
    )
    for i in range(6)
]


def test_every_reveal_leaves_one_entry_per_customer_with_fields_and_reason_and_no_values(
    db: Store,
) -> None:
    with db.sessions.begin() as session:
        ids = create_customers(session, db, profiles=PEOPLE, source="test", default_region="FR")
    agent = Principal.user(uuid.uuid4(), role="support", permissions=frozenset({PII_REVEAL}))
    job = Principal.system("dsr-export", PII_REVEAL)
    with db.sessions() as session:
        start = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0

    reveals = [
        (agent, ids[:4], ["email", "phone"], "ticket 4711: customer asked to update phone"),
        (job, ids[2:], ["first_name", "last_name", "email"], "access request DSR-12"),
        (agent, ids[:1], ["email"], "ticket 4712"),  # the same customer again: logged again
    ]
    for principal, customer_ids, fields, reason in reveals:
        with db.sessions.begin() as session:
            opened = reveal_identifiers(
                session,
                db,
                principal=principal,
                customer_ids=customer_ids,
                fields=fields,
                reason=reason,
            )
        assert set(opened) == set(customer_ids)

    with db.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.id > start).order_by(AuditEntry.id)
        ).all()
        assert audit.verify(session).ok
    expected = [
        (principal.kind, principal.id, str(customer_id), sorted(fields), reason)
        for principal, customer_ids, fields, reason in reveals
        for customer_id in customer_ids
    ]
    written = [
        (e.actor_kind, e.actor_id, e.target_id, e.details["fields"], e.reason) for e in entries
    ]
    assert sorted(written) == sorted(expected)  # one each, in whatever order rows came back
    assert {(e.action, e.target_type) for e in entries} == {("pii.reveal", "customer")}

    stored = b"\n".join(audit.canonical(entry) for entry in entries).lower()
    for person in PEOPLE:
        assert person.phone is not None
        digits = "".join(c for c in person.phone if c.isdigit())  # 33612345600
        values = (person.email, person.first_name, person.last_name, digits, "0" + digits[2:])
        for value in values:
            assert value is not None
            assert value.lower().encode() not in stored, value


def test_a_refused_reveal_decrypts_nothing(db: Store) -> None:
    with db.sessions.begin() as session:
        ids = create_customers(session, db, profiles=PEOPLE[:2], source="test", default_region="FR")
    analyst = Principal.user(uuid.uuid4(), role="analyst", permissions=frozenset())
    with pytest.raises(PermissionDenied), db.sessions.begin() as session:
        reveal_identifiers(
            session, db, principal=analyst, customer_ids=ids, fields=["email"], reason="t"
        )
    with db.sessions() as session:
        reveals = session.scalars(select(AuditEntry).where(AuditEntry.action == "pii.reveal"))
        assert list(reveals) == []

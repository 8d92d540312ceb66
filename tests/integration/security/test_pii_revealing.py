"""``pii.revealing``: several decrypts of one job step, audited together when the block ends."""

from __future__ import annotations

from contextlib import AbstractContextManager, suppress

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import PermissionDenied
from clientvault.identity.models import Customer
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.security import audit
from clientvault.security.models import AuditEntry
from clientvault.security.pii import Opener, revealing
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.context import Store

JOB = Principal.system("test-job", PII_REVEAL)


def _customers(db: Store, count: int) -> list[Customer]:
    profiles = [
        CustomerCreate(email=f"person{n}@example.com", first_name=f"Name{n}") for n in range(count)
    ]
    with db.sessions.begin() as session:
        ids = create_customers(session, db, profiles=profiles, source="test", default_region="FR")
    with db.read_sessions() as session:
        found = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    return [found[customer_id] for customer_id in ids]


def _reveals(db: Store) -> list[AuditEntry]:
    with db.read_sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "pii.reveal", AuditEntry.actor_id == JOB.id)
                .order_by(AuditEntry.id)
            )
        )


def _block(
    session: Session, db: Store, principal: Principal = JOB
) -> AbstractContextManager[Opener]:
    return revealing(
        session, db.keystore, principal=principal, subject_type="customer", reason="test"
    )


def test_every_customer_opened_in_the_block_gets_one_entry_in_one_append(db: Store) -> None:
    first, second, third = _customers(db, 3)
    with db.sessions.begin() as session, _block(session, db) as opener:
        one = opener({first.id: {"email": first.email_sealed}})
        assert _reveals(db) == []  # nothing written before the block ends
        two = opener(
            {
                second.id: {"email": second.email_sealed},
                third.id: {"email": third.email_sealed},
                first.id: {"email": first.email_sealed},  # opened again: still one entry
            }
        )
    assert one[first.id]["email"] == "person0@example.com"
    assert two[third.id]["email"] == "person2@example.com"
    entries = _reveals(db)
    assert sorted(e.target_id for e in entries) == sorted(str(c.id) for c in (first, second, third))
    assert {e.details["fields"][0] for e in entries} == {"email"}
    assert len({e.occurred_at for e in entries}) == 1  # one append (one time, one head read)
    with db.read_sessions() as session:
        assert audit.verify(session).ok


def test_a_block_that_raises_is_audited_all_the_same(db: Store) -> None:
    """A caller that catches the failure and commits still commits the audit entries."""
    [customer] = _customers(db, 1)
    with db.sessions.begin() as session, suppress(RuntimeError), _block(session, db) as opener:
        opener({customer.id: {"email": customer.email_sealed}})
        raise RuntimeError("the job failed after decrypting")
    assert [e.target_id for e in _reveals(db)] == [str(customer.id)]


def test_permission_is_checked_before_anything_is_opened(db: Store) -> None:
    with db.sessions.begin() as session:
        block = _block(session, db, Principal.system("no-pii"))
        with pytest.raises(PermissionDenied):
            block.__enter__()

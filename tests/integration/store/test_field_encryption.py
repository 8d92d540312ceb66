"""Field encryption end to end: sealing on write, audited reveal, tamper and key destruction."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from clientvault.errors import Erased, NotFound, PermissionDenied
from clientvault.identity.models import Customer
from clientvault.identity.profiles import create_customers, find_by_email, reveal_identifiers
from clientvault.identity.schemas import CustomerCreate
from clientvault.security.models import AuditEntry
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.context import Store
from clientvault.store.envelope import UnreadableField

JOB = Principal.system("test-job", PII_REVEAL)


def _make(db: Store, *profiles: CustomerCreate) -> list[uuid.UUID]:
    with db.sessions.begin() as session:
        return create_customers(session, db, profiles=profiles, source="test", default_region="FR")


def _alice() -> CustomerCreate:
    return CustomerCreate(
        email="Alice.Martin@Example.com",
        phone="06 12 34 56 78",
        first_name="Alice",
        last_name="Martin",
        city="Lyon",
        country="France",
        postal_code="69003",
    )


def test_identifiers_are_sealed_and_revealed_through_the_audited_path(db: Store) -> None:
    [customer_id] = _make(db, _alice())
    with db.sessions.begin() as session:
        row = session.get(Customer, customer_id)
        assert row is not None
        assert row.country == "FR"
        assert row.postal_prefix == "69"
        assert row.email_sealed is not None
        assert b"alice" not in row.email_sealed.lower()
        revealed = reveal_identifiers(
            session, db, principal=JOB, customer_ids=[customer_id], reason="test"
        )
    person = revealed[customer_id]
    assert person.email == "alice.martin@example.com"
    assert person.phone == "+33612345678"
    assert person.first_name == "Alice"
    with db.sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "pii.reveal")).all()
    assert [(e.actor_id, e.target_id) for e in entries] == [("test-job", str(customer_id))]
    assert "alice" not in repr(entries[0].details).lower()


def test_a_principal_without_permission_cannot_reveal(db: Store) -> None:
    [customer_id] = _make(db, _alice())
    nosy = Principal(kind="user", id="nosy", permissions=frozenset())
    with db.sessions.begin() as session, pytest.raises(PermissionDenied):
        reveal_identifiers(session, db, principal=nosy, customer_ids=[customer_id], reason="x")


def test_same_plaintext_seals_differently(db: Store) -> None:
    first, second = _make(db, _alice(), _alice())
    with db.sessions() as session:
        a, b = (session.get(Customer, i) for i in (first, second))
        assert a is not None
        assert b is not None
        assert a.email_sealed != b.email_sealed
        assert a.email_index == b.email_index  # the blind index is deterministic by design
    with db.sessions() as session:
        assert set(find_by_email(session, db, email="ALICE.martin@example.com")) == {first, second}


def test_flipped_bit_fails_to_open(db: Store) -> None:
    [customer_id] = _make(db, _alice())
    with db.sessions.begin() as session:
        sealed = session.scalar(select(Customer.email_sealed).where(Customer.id == customer_id))
        assert sealed is not None
        tampered = bytearray(sealed)
        tampered[-1] ^= 0x01
        session.execute(
            update(Customer).where(Customer.id == customer_id).values(email_sealed=bytes(tampered))
        )
    with db.sessions() as session, pytest.raises(UnreadableField):
        reveal_identifiers(session, db, principal=JOB, customer_ids=[customer_id], reason="t")


@pytest.mark.parametrize("move", ["other_row", "other_column"])
def test_sealed_value_moved_elsewhere_fails_to_open(db: Store, move: str) -> None:
    first, second = _make(db, _alice(), _alice())
    with db.sessions.begin() as session:
        sealed = session.scalar(select(Customer.email_sealed).where(Customer.id == first))
        if move == "other_row":
            target, column = second, "email_sealed"
        else:
            target, column = first, "last_name_sealed"
        session.execute(update(Customer).where(Customer.id == target).values({column: sealed}))
    field = "email" if move == "other_row" else "last_name"
    with db.sessions() as session, pytest.raises(UnreadableField):
        reveal_identifiers(
            session, db, principal=JOB, customer_ids=[target], fields=[field], reason="t"
        )


def test_destroyed_key_makes_fields_unreadable_and_says_erased(db: Store) -> None:
    keep, erase = _make(db, _alice(), _alice())
    assert db.keystore.destroy(erase) is True
    assert db.keystore.without_keys([keep, erase]) == {erase}
    with db.sessions() as session:
        with pytest.raises(Erased, match=f"customer {erase} was erased"):
            reveal_identifiers(session, db, principal=JOB, customer_ids=[erase], reason="t")
        assert reveal_identifiers(session, db, principal=JOB, customer_ids=[keep], reason="t")
    assert db.keystore.destroy(erase) is False


def test_unknown_customer_or_field_is_not_found(db: Store) -> None:
    [customer_id] = _make(db, _alice())
    with db.sessions() as session:
        with pytest.raises(NotFound):
            reveal_identifiers(session, db, principal=JOB, customer_ids=[uuid.uuid4()], reason="t")
        with pytest.raises(NotFound):
            reveal_identifiers(
                session, db, principal=JOB, customer_ids=[customer_id], fields=["iban"], reason="t"
            )


def test_a_keystore_reading_block_sees_keys_as_committed_at_each_read(db: Store) -> None:
    """One connection for the block, but no snapshot held across reads: a key created or
    destroyed between two reads is seen as ``keys_for`` would see it."""
    customer_id = uuid.uuid4()
    with db.keystore.reading() as read:
        assert read([customer_id]) == {}
        created = db.keystore.create_keys([customer_id])[customer_id]
        assert read([customer_id, customer_id]) == {customer_id: created}
        assert db.keystore.destroy(customer_id)
        assert read([customer_id]) == {}
    assert db.keystore.keys_for([customer_id]) == {}


def test_keys_created_together_are_distinct_and_unwrap_as_created(db: Store) -> None:
    """Keys created in one call (an import's chunk) are each their own, and read back
    (unwrapped) as they were created."""
    customer_ids = [uuid.uuid4() for _ in range(50)]
    created = db.keystore.create_keys(customer_ids)
    assert len({key.key for key in created.values()}) == 50
    assert all(len(key.key) == 32 for key in created.values())
    assert db.keystore.keys_for(customer_ids) == created

"""The golden record of a merged person: survivorship rules, provenance, masking, audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from clientvault.errors import PermissionDenied
from clientvault.identity.golden import MASK, golden_record
from clientvault.identity.merges import merge_customers
from clientvault.identity.models import Customer
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store

SUPPORT = Principal.user(
    uuid.uuid4(),
    role="support",
    permissions=frozenset({"customers:read", "pii:reveal", "identity:review"}),
)
ANALYST = Principal.user(uuid.uuid4(), role="analyst", permissions=frozenset({"customers:read"}))
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
RULES = IdentitySettings(
    source_priority=["crm"],
    survivorship={**IdentitySettings().survivorship, "first_name": ["most_frequent"]},
)


@pytest.fixture
def person(db: Store) -> list[uuid.UUID]:
    """Three profiles of one person from three sources, oldest first, merged into the first."""
    profiles = [
        ("crm", CustomerCreate(first_name="Ana", phone="+33612345678", city="Lyon")),
        (
            "shop",
            CustomerCreate(
                first_name="Ana",
                email="ana@example.com",
                city="Paris",
                traits={"email_verified": True, "plan": "free"},
            ),
        ),
        (
            "website",
            CustomerCreate(
                first_name="Anna",
                email="anna.typo@example.com",
                phone="+33698765432",
                city="Nice",
                traits={"plan": "pro"},
            ),
        ),
    ]
    ids = []
    with db.sessions.begin() as session:
        for age, (source, profile) in enumerate(profiles):
            [customer_id] = create_customers(
                session, db, profiles=[profile], source=source, default_region="FR"
            )
            session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(updated_at=T0 + timedelta(days=age))
            )
            ids.append(customer_id)
        for absorbed in ids[1:]:
            merge_customers(
                session, db, survivor_id=ids[0], absorbed_id=absorbed, principal=SUPPORT, reason="r"
            )
    return ids


def test_revealed_golden_record_applies_each_attributes_rules(
    db: Store, person: list[uuid.UUID]
) -> None:
    crm, shop, website = person
    with db.sessions.begin() as session:
        record = golden_record(
            session, db, customer_id=website, viewer=SUPPORT, reason="support call", settings=RULES
        )
    values = record.values
    assert (record.customer_id, record.profile_ids, record.revealed) == (crm, person, True)
    # Verified beats more recent.
    assert (values["email"].value, values["email"].profile_id) == ("ana@example.com", shop)
    assert (values["email"].rule, values["email"].source) == ("verified", "shop")
    # The trusted source beats a more recent phone.
    assert (values["phone"].value, values["phone"].rule) == ("+33612345678", "source_priority")
    # Two profiles agree on the first name: it beats the most recent spelling.
    assert (values["first_name"].value, values["first_name"].rule) == ("Ana", "most_frequent")
    assert values["first_name"].alternatives == 1
    # Clear attributes and traits: most recent by default.
    assert (values["city"].value, values["city"].profile_id) == ("Nice", website)
    assert values["city"].observed_at == T0 + timedelta(days=2)
    assert record.traits["plan"].value == "pro"
    assert values["street_address"].value is None
    with db.sessions() as session:
        revealed = session.scalars(
            select(AuditEntry.target_id).where(AuditEntry.action == "pii.reveal")
        ).all()
    assert sorted(revealed) == sorted(str(i) for i in person)


def test_without_a_reason_identifiers_stay_masked_with_their_provenance(
    db: Store, person: list[uuid.UUID]
) -> None:
    crm, shop, _ = person
    with db.sessions.begin() as session:
        record = golden_record(session, db, customer_id=crm, viewer=ANALYST, settings=RULES)
        with pytest.raises(PermissionDenied):
            golden_record(session, db, customer_id=crm, viewer=ANALYST, reason="curious")
    email = record.values["email"]
    assert (email.value, email.masked, email.profile_id) == (MASK, True, shop)
    assert (record.values["city"].value, record.values["city"].masked) == ("Nice", False)
    assert not record.revealed
    assert "ana@example.com" not in record.model_dump_json()

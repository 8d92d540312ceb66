"""Helpers for the privacy-core tests: synthetic customers, consents, principals."""

from __future__ import annotations

import uuid

from clientvault.identity.merges import merge_customers
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.migrations.schema import load_holders
from clientvault.privacy.consent import record_decision
from clientvault.privacy.purposes import ensure_default_purposes
from clientvault.security.principal import Principal
from clientvault.store.context import Store

#: A reviewer of duplicates acting through identity's merge service.
REVIEWER = Principal.system("test-review", "identity:review")
#: A DPO acting through the services (what the API's DPO role holds for these actions).
DPO = Principal.user(
    uuid.uuid4(),
    role="dpo",
    permissions=frozenset({"privacy:manage", "pii:reveal", "pii:export", "customers:read"}),
)


def prepare(store: Store) -> None:
    """Default purposes (PostgreSQL tests truncate them between tests) and every holder."""
    load_holders()
    with store.sessions.begin() as session:
        ensure_default_purposes(session)


def make_customers(store: Store, *profiles: CustomerCreate) -> list[uuid.UUID]:
    """Create synthetic customers and return their ids."""
    with store.sessions.begin() as session:
        return create_customers(
            session, store, profiles=list(profiles), source="test", default_region="FR"
        )


def person(n: int) -> CustomerCreate:
    """A synthetic person number ``n``."""
    return CustomerCreate(
        email=f"person.{n}@example.com",
        phone=f"06123450{n:02d}",
        first_name=f"Firstname{n}x",
        last_name=f"Lastname{n}y",
        country="FR",
        city="Lyon",
        language="fr",
    )


def decide(store: Store, customer_id: uuid.UUID, purpose: str, decision: str) -> None:
    """Record one consent decision through the service."""
    with store.sessions.begin() as session:
        record_decision(
            session,
            customer_id=customer_id,
            purpose=purpose,
            decision=decision,  # type: ignore[arg-type]
            policy_version="2026-01",
            channel="web",
        )


def merge_into(store: Store, absorbed: uuid.UUID, survivor: uuid.UUID) -> uuid.UUID:
    """Merge a profile into a survivor through identity's merge service; the merge's id."""
    with store.sessions.begin() as session:
        return merge_customers(
            session,
            store,
            survivor_id=survivor,
            absorbed_id=absorbed,
            principal=REVIEWER,
            reason="same person (test)",
        )

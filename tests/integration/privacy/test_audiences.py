"""Audiences for a purpose: consent, objection, restriction, erasure and merges are filtered in
the SQL, honoured at once, on every registered activation path."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from clientvault.errors import InvalidInput, NotFound
from clientvault.identity.models import Customer
from clientvault.privacy import consent
from clientvault.privacy.audiences import (
    ActivationContext,
    activation_paths,
    all_customers,
    audience,
    email_recipients,
)
from clientvault.store.context import Store
from support.privacy_core import DPO, decide, make_customers, merge_into, person, prepare


@pytest.fixture
def three(db: Store) -> list[uuid.UUID]:
    prepare(db)
    ids = make_customers(db, person(1), person(2), person(3))
    for customer_id in ids:
        decide(db, customer_id, "marketing_email", "granted")
    return ids


def _members(store: Store, purpose: str) -> set[uuid.UUID]:
    with store.read_sessions() as session:
        return set(session.scalars(audience(session, purpose=purpose, customers=all_customers())))


def _every_path(store: Store, purpose: str) -> dict[str, set[uuid.UUID]]:
    with store.sessions.begin() as session:
        ctx = ActivationContext(session=session, store=store, principal=DPO)
        return {
            path.name: set(path.recipients(ctx, purpose, all_customers()))
            for path in activation_paths()
        }


def test_consent_purposes_need_a_grant_and_withdrawal_is_immediate(
    db: Store, three: list[uuid.UUID]
) -> None:
    a, b, c = three
    assert _members(db, "marketing_email") == {a, b, c}
    assert _members(db, "marketing_sms") == set()  # nobody granted SMS
    with db.sessions.begin() as session:
        consent.record_decision(
            session,
            customer_id=a,
            purpose="marketing_email",
            decision="withdrawn",
            policy_version="2026-01",
            channel="preference_centre",
        )
        # Same transaction, same request cycle: already out.
        found = set(
            session.scalars(audience(session, purpose="marketing_email", customers=all_customers()))
        )
        assert found == {b, c}
    assert _members(db, "marketing_email") == {b, c}


def test_every_activation_path_drops_withdrawn_objecting_and_restricted_customers(
    db: Store, three: list[uuid.UUID]
) -> None:
    extra = make_customers(db, person(4), person(5))
    for customer_id in extra:
        decide(db, customer_id, "marketing_email", "granted")
    a, b, c = three
    d, e = extra
    paths = _every_path(db, "marketing_email")
    assert {"api.audience_preview", "api.audience_csv", "campaigns.email_recipients"} <= set(paths)
    assert all(found == {a, b, c, d, e} for found in paths.values())

    decide(db, a, "marketing_email", "withdrawn")
    with db.sessions.begin() as session:
        consent.record_objection(session, customer_id=b, channel="support")
        consent.record_restriction(session, customer_id=c, channel="dpo")
    paths = _every_path(db, "marketing_email")
    assert paths
    assert all(found == {d, e} for found in paths.values()), paths

    # Lifting the objection brings b back; the restriction keeps c out of every purpose.
    with db.sessions.begin() as session:
        consent.record_objection(session, customer_id=b, channel="support", active=False)
        consent.record_decision(
            session,
            customer_id=c,
            purpose="analytics",
            decision="granted",
            policy_version="2026-01",
            channel="web",
        )
    assert all(found == {b, d, e} for found in _every_path(db, "marketing_email").values())
    assert c not in _members(db, "analytics")
    assert c not in _members(db, "order_fulfilment")


def test_objection_matters_for_direct_marketing_only_and_legitimate_interest_opt_out(
    db: Store, three: list[uuid.UUID]
) -> None:
    a, b, c = three
    with db.sessions.begin() as session:
        consent.record_objection(session, customer_id=a, channel="web")
    decide(db, b, "analytics", "withdrawn")  # analytics rests on legitimate interest
    assert _members(db, "analytics") == {a, c}
    assert _members(db, "order_fulfilment") == {a, b, c}
    assert _members(db, "marketing_email") == {b, c}


def test_gpc_opts_out_of_sale_share_once(db: Store, three: list[uuid.UUID]) -> None:
    a, b, _ = three
    decide(db, a, "sale_share", "granted")
    decide(db, b, "sale_share", "granted")
    with db.sessions.begin() as session:
        first = consent.record_gpc_opt_out(session, customer_id=a, policy_version="2026-01")
        again = consent.record_gpc_opt_out(session, customer_id=a, policy_version="2026-01")
        state = consent.current_consents(session, customer_id=a)["sale_share"]
    assert first is not None
    assert again is None
    assert (state.decision, state.channel) == ("withdrawn", "gpc")
    assert _members(db, "sale_share") == {b}


def test_merges_never_lend_consent(db: Store, three: list[uuid.UUID]) -> None:
    survivor, absorbed, other = three
    [silent] = make_customers(db, person(6))  # never consented
    merge_into(db, absorbed, survivor)
    # Absorbed profiles are never in an audience; the survivor still is (both consent).
    assert _members(db, "marketing_email") == {survivor, other}
    merge_into(db, silent, survivor)
    assert _members(db, "marketing_email") == {other}
    decide(db, silent, "marketing_email", "granted")
    assert _members(db, "marketing_email") == {survivor, other}
    with db.sessions.begin() as session:
        consent.record_restriction(session, customer_id=absorbed, channel="dpo")
    assert _members(db, "order_fulfilment") == {other}


def test_a_purpose_is_required_and_must_exist(db: Store, three: list[uuid.UUID]) -> None:
    with db.read_sessions() as session, pytest.raises(NotFound):
        audience(session, purpose="mass_mailing", customers=all_customers())
    with db.sessions.begin() as session, pytest.raises(NotFound):
        email_recipients(
            session,
            db,
            principal=DPO,
            purpose="",
            customers=select(Customer.id),
            reason="campaign",
        )
    with db.sessions.begin() as session, pytest.raises(InvalidInput):
        consent.record_decision(
            session,
            customer_id=three[0],
            purpose="marketing_email",
            decision="maybe",  # type: ignore[arg-type]
            policy_version="2026-01",
            channel="web",
        )


def test_email_recipients_are_decrypted_through_the_audited_path(
    db: Store, three: list[uuid.UUID]
) -> None:
    with db.sessions.begin() as session:
        found = email_recipients(
            session,
            db,
            principal=DPO,
            purpose="marketing_email",
            customers=all_customers(),
            reason="spring campaign",
        )
    assert sorted(r.email for r in found) == [f"person.{n}@example.com" for n in (1, 2, 3)]

"""Data-subject requests on a real database: verification first, single-use links, clock,
alerts, and the e-mails they send through a real SMTP server on loopback."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from clientvault.errors import Conflict, InvalidInput, Unauthenticated
from clientvault.identity.models import Customer
from clientvault.messaging import delivery
from clientvault.messaging.models import OutboxMessage
from clientvault.privacy import consent, links
from clientvault.privacy.requests import lifecycle
from clientvault.privacy.requests.models import DataSubjectRequest, LinkToken
from clientvault.security.models import Alert, AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.mailbox import link_in, smtp_server, text_of
from support.privacy import add_customer, smtp_to

DPO = Principal.user(
    uuid.uuid4(), role="dpo", permissions=frozenset({"privacy:manage", "pii:export"})
)


def _create(store: Store, settings: Settings, customer_id: uuid.UUID, kind: str) -> uuid.UUID:
    with store.sessions.begin() as session:
        dsr = lifecycle.create_request(
            session,
            store,
            policy=settings.privacy,
            intake=lifecycle.Intake(customer_id=customer_id, kind=kind),
            principal=DPO,
        )
        return dsr.id


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_request_is_verified_by_the_emailed_link_then_carried_out(
    db: Store, db_settings: Settings
) -> None:
    customer_id = add_customer(db, email="ada@example.com")
    request_id = _create(db, db_settings, customer_id, "opt_out")
    policy = db_settings.privacy

    with db.sessions.begin() as session, pytest.raises(Conflict, match="not verified"):
        lifecycle.complete(session, db, policy=policy, request_id=request_id, principal=DPO)

    with smtp_server() as mailbox:
        assert delivery.drain(db, smtp_to(db_settings, mailbox.host, mailbox.port)) == 1
    [received] = mailbox.to("ada@example.com")
    assert received["Subject"] == "We received your privacy request"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/preferences/unsubscribe?token=" in received["List-Unsubscribe"]
    assert "We will answer by" in text_of(received)
    verify_url = link_in(received, "/preferences/verify")

    with db.sessions.begin() as session:
        shown = lifecycle.pending_verification(session, db, policy=policy, token=_token(verify_url))
        assert shown.id == request_id
        assert shown.status == "received"
    with db.sessions.begin() as session:
        verified = lifecycle.verify_request(session, db, policy=policy, token=_token(verify_url))
        assert verified.status == "verified"
        assert verified.verification_method == "email_link"
    with db.sessions.begin() as session, pytest.raises(Unauthenticated):
        lifecycle.verify_request(session, db, policy=policy, token=_token(verify_url))

    with db.sessions.begin() as session:
        done = lifecycle.complete(session, db, policy=policy, request_id=request_id, principal=DPO)
        assert done.status == "completed"
        states = consent.current_consents(session, customer_id=customer_id)
        assert states["sale_share"].decision == "withdrawn"
        assert states["sale_share"].proof_ref == f"dsr:{request_id}"
        actions = set(
            session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "dsr"))
        )
    assert actions == {"dsr.received", "dsr.verified", "dsr.completed"}
    with db.read_sessions() as session:
        stored = session.scalars(select(OutboxMessage)).all()
    assert [m.template for m in stored] == ["dsr_received", "dsr_completed"]
    assert stored[0].sent_at is not None
    assert stored[0].body is None


def test_links_cannot_be_forged_reused_misused_or_used_late(
    db: Store, db_settings: Settings
) -> None:
    customer_id = add_customer(db)
    request_id = _create(db, db_settings, customer_id, "access")
    key = links.link_key(db, db_settings.privacy)
    with db.sessions.begin() as session:
        good = links.issue(
            session,
            key=key,
            purpose="dsr_verify",
            customer_id=customer_id,
            request_id=request_id,
            lifetime=timedelta(hours=1),
        )
        late = links.issue(
            session,
            key=key,
            purpose="dsr_verify",
            customer_id=customer_id,
            request_id=request_id,
            lifetime=timedelta(seconds=-1),
        )
        stored = session.scalars(select(LinkToken.token_hash)).all()
    assert all(good.encode() not in h and len(h) == 32 for h in stored)  # only hashes kept
    forged = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    for token in (forged, late, "", "x" * 500):
        with db.sessions.begin() as session, pytest.raises(Unauthenticated):
            links.consume(session, key=key, purpose="dsr_verify", token=token)
    with db.sessions.begin() as session, pytest.raises(Unauthenticated):
        links.check(session, key=key, purpose="preferences", token=good)  # wrong purpose
    other = db_settings.privacy.model_copy(update={"link_secret": SecretStr("x" * 32)})
    other_key = links.link_key(db, other)
    with db.sessions.begin() as session, pytest.raises(Unauthenticated):
        links.consume(session, key=other_key, purpose="dsr_verify", token=good)
    with db.sessions.begin() as session:
        assert links.consume(session, key=key, purpose="dsr_verify", token=good).request_id == (
            request_id
        )
    with db.sessions.begin() as session, pytest.raises(Unauthenticated):
        links.consume(session, key=key, purpose="dsr_verify", token=good)


def test_an_unverified_request_never_exposes_or_erases_data(
    db: Store, db_settings: Settings
) -> None:
    customer_id = add_customer(db)
    policy = db_settings.privacy
    for kind in ("access", "erasure"):
        request_id = _create(db, db_settings, customer_id, kind)
        with db.sessions.begin() as session, pytest.raises(Conflict, match="not verified"):
            lifecycle.complete(session, db, policy=policy, request_id=request_id, principal=DPO)
        with db.sessions.begin() as session, pytest.raises(Conflict, match="not verified"):
            lifecycle.download_archive(session, db, request_id=request_id, principal=DPO)
    with db.read_sessions() as session:
        exports = session.scalar(select(func.count()).where(AuditEntry.action.like("%export%")))
        assert exports == 0
        assert session.get(Customer, customer_id).status != "erased"  # type: ignore[union-attr]


def test_extension_once_with_reason_and_notice(db: Store, db_settings: Settings) -> None:
    customer_id = add_customer(db)
    request_id = _create(db, db_settings, customer_id, "rectification")
    policy = db_settings.privacy
    with db.sessions.begin() as session, pytest.raises(InvalidInput):
        lifecycle.extend(
            session, db, policy=policy, request_id=request_id, principal=DPO, reason="  "
        )
    with db.sessions.begin() as session:
        dsr = lifecycle.extend(
            session, db, policy=policy, request_id=request_id, principal=DPO, reason="complex"
        )
        assert dsr.due_on > dsr.original_due_on
        assert dsr.extension_reason == "complex"
    with db.sessions.begin() as session, pytest.raises(Conflict, match="only once"):
        lifecycle.extend(
            session, db, policy=policy, request_id=request_id, principal=DPO, reason="again"
        )
    with db.read_sessions() as session:
        templates = session.scalars(select(OutboxMessage.template).order_by(OutboxMessage.id))
        assert list(templates) == ["dsr_received", "dsr_extended"]


def test_deadline_alerts_are_raised_once_per_state(db: Store, db_settings: Settings) -> None:
    customer_id = add_customer(db)
    request_id = _create(db, db_settings, customer_id, "access")
    with db.read_sessions() as session:
        due = session.get(DataSubjectRequest, request_id).due_on  # type: ignore[union-attr]
    for today, expected in ((due - timedelta(days=30), 0), (due - timedelta(days=3), 1)):
        with db.sessions.begin() as session:
            assert lifecycle.check_deadlines(session, today=today, due_soon_days=7) == expected
    with db.sessions.begin() as session:
        assert (
            lifecycle.check_deadlines(session, today=due - timedelta(days=2), due_soon_days=7) == 0
        )
        assert (
            lifecycle.check_deadlines(session, today=due + timedelta(days=1), due_soon_days=7) == 1
        )
    with db.read_sessions() as session:
        kinds = sorted(session.scalars(select(Alert.kind)))
    assert kinds == ["dsr_due_soon", "dsr_overdue"]

"""Carrying out verified requests through the privacy core (erasure, restriction, access from
the preference centre), and the e-mail outbox when delivery fails or the customer is gone."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from clientvault.automation import privacy_jobs
from clientvault.errors import Unauthenticated
from clientvault.identity.models import Customer
from clientvault.ingest.models import Event
from clientvault.messaging import delivery
from clientvault.messaging.models import OutboxMessage
from clientvault.migrations.schema import load_holders
from clientvault.privacy import consent, links, notices, preferences
from clientvault.privacy.holders.registry import ErasureMode
from clientvault.privacy.requests import lifecycle
from clientvault.privacy.requests.models import DataSubjectRequest, LinkToken
from clientvault.security.models import Alert
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.mailbox import smtp_server
from support.privacy import add_customer, smtp_to

DPO = Principal.user(uuid.uuid4(), role="dpo", permissions=frozenset({"privacy:manage"}))


def _verified_request(store: Store, settings: Settings, kind: str) -> tuple[uuid.UUID, str]:
    """A request made in the preference centre (verified by its link), and that link."""
    customer_id = add_customer(store, email="edsger@example.com")
    with store.sessions.begin() as session:
        token = notices.preferences_link(
            session, store, policy=settings.privacy, customer_id=customer_id
        )
        dsr = lifecycle.create_request(
            session,
            store,
            policy=settings.privacy,
            intake=lifecycle.Intake(customer_id=customer_id, kind=kind, channel="preferences"),
            principal=lifecycle.DATA_SUBJECT,
            verified_by_link=True,
        )
        return dsr.id, token


def test_erasure_request_erases_and_closes_links_and_mail(db: Store, db_settings: Settings) -> None:
    load_holders()
    request_id, token = _verified_request(db, db_settings, "erasure")
    with db.sessions.begin() as session:
        done = lifecycle.complete(
            session, db, policy=db_settings.privacy, request_id=request_id, principal=DPO
        )
        assert done.outcome is not None
        assert done.outcome.startswith("erased; certificate ")
    with db.read_sessions() as session:
        request = session.get(DataSubjectRequest, request_id)
        assert request is not None
        assert request.status == "completed"  # the proof is kept
        customer = session.get(Customer, request.customer_id)
        assert customer is None or customer.status == "erased"
        assert session.scalars(select(OutboxMessage)).all() == []  # receipt deleted
    with db.sessions.begin() as session, pytest.raises(Unauthenticated):
        preferences.open_centre(session, db, policy=db_settings.privacy, token=token)


def test_restriction_and_self_service_download(db: Store, db_settings: Settings) -> None:
    load_holders()
    request_id, token = _verified_request(db, db_settings, "restriction")
    with db.sessions.begin() as session:
        lifecycle.start(session, request_id=request_id, principal=DPO)
        lifecycle.complete(
            session, db, policy=db_settings.privacy, request_id=request_id, principal=DPO
        )
        customer_id = lifecycle.get_request(session, request_id).customer_id
        assert consent.current_limits(session, customer_id=customer_id)["restriction"].active
    with db.sessions.begin() as session:
        archive = preferences.download(session, db, policy=db_settings.privacy, token=token)
    assert archive[:2] == b"PK"
    with db.read_sessions() as session:
        kinds = {
            (r.kind, r.status) for r in lifecycle.list_requests(session, customer_id=customer_id)
        }
    assert kinds == {("restriction", "completed"), ("access", "completed")}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it any more


def test_failed_delivery_is_retried_later_then_succeeds(db: Store, db_settings: Settings) -> None:
    _verified_request(db, db_settings, "objection")
    assert delivery.deliver_pending(db, smtp_to(db_settings, "127.0.0.1", _closed_port())) == 1
    with db.read_sessions() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
        assert message.sent_at is None
        assert message.failed_at is None
        assert message.attempts == 1
        assert message.last_error == "ConnectionRefusedError"
    with smtp_server() as mailbox:
        smtp = smtp_to(db_settings, mailbox.host, mailbox.port)
        assert delivery.deliver_pending(db, smtp) == 0  # backing off
        with db.sessions.begin() as session:
            session.get(OutboxMessage, message.id).next_attempt_at = message.created_at  # type: ignore[union-attr]
        assert delivery.deliver_pending(db, smtp) == 1
    assert len(mailbox.to("edsger@example.com")) == 1


def test_mail_to_an_erased_customer_is_dropped_unread(db: Store, db_settings: Settings) -> None:
    _verified_request(db, db_settings, "objection")
    with db.read_sessions() as session:
        customer_id = session.scalars(select(Customer.id)).one()
    db.keystore.destroy(customer_id)  # crypto-shredded: the sealed body cannot be opened
    with smtp_server() as mailbox:
        assert delivery.drain(db, smtp_to(db_settings, mailbox.host, mailbox.port)) == 1
    assert mailbox.messages == []
    with db.read_sessions() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
        assert message.failed_at is not None
        assert message.body is None


def test_worker_job_raises_deadline_alerts_and_forgets_expired_links(
    db: Store, db_settings: Settings
) -> None:
    request_id, _ = _verified_request(db, db_settings, "access")
    with db.sessions.begin() as session:
        customer_id = lifecycle.get_request(session, request_id).customer_id
        links.issue(
            session,
            key=links.link_key(db, db_settings.privacy),
            purpose="preferences",
            customer_id=customer_id,
            lifetime=timedelta(days=-2),
        )
        before = session.scalar(select(func.count()).select_from(LinkToken))
    with db.sessions.begin() as session:
        dsr = lifecycle.get_request(session, request_id)
        dsr.due_on = lifecycle.today_utc()
    assert privacy_jobs.check_request_deadlines(db, db_settings.privacy) == 1
    assert privacy_jobs.check_request_deadlines(db, db_settings.privacy) == 0
    with db.read_sessions() as session:
        alert = session.scalars(select(Alert)).one()
    assert alert.kind == "dsr_due_soon"
    assert alert.evidence["request_id"] == str(request_id)
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(LinkToken)) == (before or 0) - 1


@pytest.mark.parametrize("mode", ["delete", "anonymise"])
def test_erasure_request_follows_the_installations_erasure_mode(
    db: Store, db_settings: Settings, mode: ErasureMode
) -> None:
    load_holders()
    request_id, _token = _verified_request(db, db_settings, "erasure")
    with db.sessions.begin() as session:
        customer_id = session.get_one(DataSubjectRequest, request_id).customer_id
        session.add(
            Event(
                message_id="before-erasure",
                type="track",
                name="Viewed",
                customer_id=customer_id,
                occurred_at=datetime.now(UTC),
            )
        )
    with db.sessions.begin() as session:
        lifecycle.complete(
            session,
            db,
            policy=db_settings.privacy,
            request_id=request_id,
            principal=DPO,
            erasure_mode=mode,
        )
    with db.read_sessions() as session:
        kept = session.scalars(select(Event).where(Event.message_id == "before-erasure")).all()
    if mode == "delete":
        assert kept == []
    else:
        assert [event.customer_id for event in kept] == [None]

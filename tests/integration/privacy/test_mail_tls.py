"""Delivery to a relay that demands STARTTLS: never in clear, and only to a verified relay."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from clientvault.messaging import delivery
from clientvault.messaging.models import OutboxMessage
from clientvault.privacy import notices
from clientvault.security.certificates import create_self_signed
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.mailbox import smtp_server
from support.privacy import add_customer, smtp_to


def _queue(store: Store, settings: Settings) -> None:
    customer_id = add_customer(store, email="frances@example.com")
    with store.sessions.begin() as session:
        notices.enqueue(
            session,
            store,
            policy=settings.privacy,
            customer_id=customer_id,
            template="dsr_received",
            subject="We received your privacy request",
            text="We received your request.",
        )


def _pending(store: Store) -> OutboxMessage:
    with store.read_sessions() as session:
        message = session.scalars(select(OutboxMessage)).one()
    with store.sessions.begin() as session:  # retry now rather than after the back-off
        session.get(OutboxMessage, message.id).next_attempt_at = message.created_at  # type: ignore[union-attr]
    return message


def test_starttls_with_a_verified_relay_only(
    db: Store, db_settings: Settings, tmp_path: Path
) -> None:
    certificate = create_self_signed(tmp_path / "relay", hosts=["127.0.0.1"])
    _queue(db, db_settings)
    with smtp_server(tls=(certificate.cert_path, certificate.key_path)) as mailbox:
        plain = smtp_to(db_settings, mailbox.host, mailbox.port)
        delivery.deliver_pending(db, plain)  # the relay refuses mail before STARTTLS
        assert _pending(db).last_error is not None
        unverified = plain.model_copy(update={"starttls": True})
        delivery.deliver_pending(db, unverified)  # self-signed: not trusted by default
        assert _pending(db).last_error == "SSLCertVerificationError"
        assert mailbox.messages == []
        trusted = unverified.model_copy(update={"ca_file": certificate.cert_path})
        assert delivery.deliver_pending(db, trusted) == 1
    assert len(mailbox.to("frances@example.com")) == 1
    with db.read_sessions() as session:
        assert session.scalars(select(OutboxMessage.sent_at)).one() is not None

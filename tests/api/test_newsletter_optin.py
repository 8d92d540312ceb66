"""Newsletter double opt-in: a sign-up event only e-mails a confirmation link (through the
outbox, to a loopback SMTP server); consent is recorded when the customer confirms from it,
with the confirmation time and the link's id as proof. Forged and expired links are refused
with a friendly page; opening the link (a scanner) or confirming twice records nothing more."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from clientvault.automation.journeys.models import NewsletterSignup
from clientvault.automation.journeys.optin import CHANNEL, CONFIRM_PATH, start_optins
from clientvault.messaging import delivery
from clientvault.privacy.models import ConsentRecord
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.journeys import sign_up, track, with_mail
from support.mailbox import smtp_server, text_of


def _token(message: EmailMessage) -> str:
    """The confirmation link's token in a received e-mail."""
    found = re.search(rf"{re.escape(CONFIRM_PATH)}\?token=([A-Za-z0-9_.-]+)", text_of(message))
    assert found is not None
    return found.group(1)


def _grants(db: Store) -> list[ConsentRecord]:
    with db.sessions() as session:
        return list(
            session.scalars(
                select(ConsentRecord).where(
                    ConsentRecord.purpose == "marketing_email", ConsentRecord.decision == "granted"
                )
            )
        )


def test_a_sign_up_is_pending_until_its_link_is_confirmed(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    customer = sign_up(db, 1, consent=False)
    later = sign_up(db, 2, consent=False)
    track(db, "user-1", "Newsletter Signed Up")
    track(db, "user-2", "Newsletter Signed Up")
    with smtp_server() as mailbox:
        settings = with_mail(db_settings, mailbox.host, mailbox.port)
        assert start_optins(db, settings, now=utcnow() + timedelta(seconds=5)) == 2
        assert start_optins(db, settings, now=utcnow() + timedelta(seconds=5)) == 0  # once
        delivery.drain(db, settings.smtp)
    assert _grants(db) == []  # nothing granted by signing up
    token = _token(mailbox.to("person.1@example.com")[0])

    page = client.get(CONFIRM_PATH, params={"token": token})
    assert page.status_code == 200
    assert 'data-form="confirm-newsletter"' in page.text
    assert _grants(db) == []  # opening the link (a mail scanner) confirms nothing

    body, mac = token.split(".")
    forged = f"{body[:-2]}{'AA' if body[-2:] != 'AA' else 'BB'}.{mac}"
    refused = client.post(CONFIRM_PATH, data={"token": forged})
    assert refused.status_code == 403
    assert "not valid" in refused.text
    assert "not subscribed" in refused.text
    assert client.get(f"{CONFIRM_PATH}?token=nonsense").status_code == 403
    assert client.post(CONFIRM_PATH, data={"token": "x" * 5000}).status_code == 403
    assert client.post(CONFIRM_PATH).status_code == 403  # no token: the same page

    confirmed = client.post(CONFIRM_PATH, data={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert "You are subscribed" in confirmed.text
    assert client.post(CONFIRM_PATH, data={"token": token}).status_code == 200  # again: no-op
    (grant,) = _grants(db)
    with db.sessions() as session:
        signup = session.scalar(
            select(NewsletterSignup).where(NewsletterSignup.customer_id == customer)
        )
        assert signup is not None
        # The expired one: its link no longer works (the other person's).
        session.execute(
            update(NewsletterSignup)
            .where(NewsletterSignup.customer_id == later)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        session.commit()
    assert grant.customer_id == customer
    assert grant.channel == CHANNEL
    assert signup.confirmed_at is not None
    assert signup.consent_record_id == grant.id
    assert (
        grant.proof_ref
        == f"newsletter-signup:{signup.id} confirmed {signup.confirmed_at.isoformat()}"
    )

    expired = client.post(
        CONFIRM_PATH, data={"token": _token(mailbox.to("person.2@example.com")[0])}
    )
    assert expired.status_code == 403
    assert "expired" in expired.text
    assert [g.customer_id for g in _grants(db)] == [customer]

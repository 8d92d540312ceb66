"""Double opt-in for newsletter sign-ups.

A sign-up (the website's ``Newsletter Signed Up`` track event, ``automation.newsletter_event``,
by an identified customer) does not grant anything by itself: it makes a pending
``NewsletterSignup`` and e-mails, through the messaging outbox, a confirmation link signed
with HMAC (the sign-up's id and expiry, under a key derived from the key file). Only when the
customer confirms from that link is consent to ``automation.newsletter_purpose`` recorded on
the consent ledger, with its proof: the channel ``double opt-in``, the confirmation time and
the link's id (``proof_ref``). A forged, altered or expired link confirms nothing and gets a
friendly page; confirming twice records nothing twice.

The link's page asks for one click on a button (a POST) rather than confirming on the GET,
so a mail scanner that follows links confirms nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.automation.journeys.mail import sign, verify
from clientvault.automation.journeys.models import NewsletterSignup
from clientvault.errors import NotFound, Unauthenticated
from clientvault.ingest.models import ConsumerCursor, Event
from clientvault.messaging import outbox
from clientvault.privacy import notices
from clientvault.privacy.consent import current_consents, record_decision
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.cursors import locked_cursor

CONFIRM_PATH = "/preferences/newsletter/confirm"
#: The sign-up job's cursor over the event log (a row of ``consumer_cursors``).
CURSOR = "automation.newsletter-optin"
#: Events younger than this are left for the next run (commit order on PostgreSQL).
SETTLE = timedelta(seconds=2)
#: The consent ledger's channel for a confirmed sign-up.
CHANNEL = "double opt-in"
INVALID = "this confirmation link is not valid"
EXPIRED = "this confirmation link has expired: sign up again and we will send a new one"


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation did: the sign-up, and whether it was already confirmed before."""

    signup_id: uuid.UUID
    confirmed_at: datetime
    consent_record_id: int | None
    already: bool


def optin_key(store: Store) -> bytes:
    """The HMAC key of confirmation links, derived from the key file's index key."""
    return hmac.new(
        store.keystore.material.index_key, b"clientvault/newsletter-optin/v1", hashlib.sha256
    ).digest()


def request_optin(
    session: Session, store: Store, settings: Settings, *, customer_id: uuid.UUID, entry_key: str
) -> NewsletterSignup | None:
    """Record a pending sign-up and queue its confirmation e-mail (in the caller's
    transaction); None when ``entry_key`` was seen already or the customer already consents
    to the newsletter's purpose (nothing to confirm)."""
    purpose = settings.automation.newsletter_purpose
    if session.scalar(select(NewsletterSignup.id).where(NewsletterSignup.entry_key == entry_key)):
        return None
    try:
        outbox.sealing_key(store, customer_id)
    except NotFound:
        return None  # erased since the sign-up: nobody to write to
    state = current_consents(session, customer_id=customer_id).get(purpose)
    if state is not None and state.decision == "granted":
        return None
    now = utcnow()
    signup = NewsletterSignup(
        customer_id=customer_id,
        purpose=purpose,
        entry_key=entry_key[:200],
        requested_at=now,
        expires_at=now + timedelta(hours=settings.automation.optin_link_hours),
    )
    session.add(signup)
    session.flush()
    token = sign(optin_key(store), {"s": str(signup.id), "x": int(signup.expires_at.timestamp())})
    url = notices.link_url(settings.privacy, CONFIRM_PATH, token)
    notices.enqueue(
        session,
        store,
        policy=settings.privacy,
        customer_id=customer_id,
        template="newsletter-optin",
        subject="Please confirm your newsletter subscription",
        text=(
            "You (or someone using your address) asked to receive our newsletter. Nothing "
            f"is sent until you confirm, here:\n\n{url}\n\nThe link works for "
            f"{settings.automation.optin_link_hours} hours. If you did not ask for it, "
            "ignore this e-mail: you will not be subscribed."
        ),
    )
    return signup


def pending(session: Session, store: Store, token: str) -> NewsletterSignup:
    """The sign-up a confirmation link names, if the link is genuine and in time;
    ``Unauthenticated`` (a friendly message) otherwise."""
    if len(token) > 400:
        raise Unauthenticated(INVALID)
    try:
        payload = verify(optin_key(store), token)
    except Unauthenticated:
        raise Unauthenticated(INVALID) from None
    try:
        signup_id = uuid.UUID(str(payload.get("s")))
    except ValueError:
        raise Unauthenticated(INVALID) from None
    signup = session.get(NewsletterSignup, signup_id)
    if signup is None:
        raise Unauthenticated(INVALID)
    if signup.confirmed_at is None and signup.expires_at <= utcnow():
        raise Unauthenticated(EXPIRED)
    return signup


def confirm_optin(session: Session, store: Store, token: str) -> Confirmation:
    """Confirm the sign-up a link names: consent is recorded now, with the confirmation time
    and the link's id as its proof. Confirming again changes nothing."""
    signup = pending(session, store, token)
    if signup.confirmed_at is not None:
        return Confirmation(signup.id, signup.confirmed_at, signup.consent_record_id, True)
    now = utcnow()
    try:
        record = record_decision(
            session,
            customer_id=signup.customer_id,
            purpose=signup.purpose,
            decision="granted",
            policy_version="1",
            channel=CHANNEL,
            source="newsletter confirmation link",
            proof_ref=f"newsletter-signup:{signup.id} confirmed {now.isoformat()}",
        )
    except NotFound:  # the customer was erased since: the link confirms nothing
        raise Unauthenticated(INVALID) from None
    signup.confirmed_at = now
    signup.consent_record_id = record.id
    return Confirmation(signup.id, now, record.id, False)


def start_optins(store: Store, settings: Settings, *, now: datetime | None = None) -> int:
    """Ask for confirmation of the newsletter sign-ups put on the event log since the last
    run (the job; each sign-up event once: its message id is the entry key)."""
    asked = 0
    moment = now or utcnow()
    with store.sessions.begin() as session:
        cursor = locked_cursor(session, ConsumerCursor, CURSOR)
        if cursor is None:
            return 0
        events = session.execute(
            select(Event.id, Event.customer_id, Event.message_id)
            .where(
                Event.id > cursor.position,
                Event.name == settings.automation.newsletter_event,
                Event.type == "track",
                Event.received_at <= moment - SETTLE,
            )
            .order_by(Event.id)
            .limit(settings.automation.batch_size)
        ).all()
        for _, customer_id, message_id in events:
            if customer_id is None:
                continue  # an anonymous visitor: nobody to write to
            made = request_optin(
                session, store, settings, customer_id=customer_id, entry_key=f"event:{message_id}"
            )
            asked += made is not None
        if events:
            cursor.position = events[-1][0]
    return asked

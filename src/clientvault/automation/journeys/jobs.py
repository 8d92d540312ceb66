"""The journeys' scheduled jobs: advancing due runs, the daily date triggers, the consent
triggers, delivery outcomes of journey e-mails (events, bounces) and webhook delivery."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.automation.journeys import campaigns, engine, optin
from clientvault.automation.journeys.dates import start_date_runs
from clientvault.automation.journeys.definition import ConsentTrigger
from clientvault.automation.journeys.events import record_event
from clientvault.automation.journeys.models import DoNotContact, JourneyEmail, JourneyWebhook
from clientvault.automation.journeys.ssrf import REFUSED, RefusedDestination, destination
from clientvault.ingest.models import ConsumerCursor
from clientvault.messaging.delivery import BOUNCED
from clientvault.messaging.models import OutboxMessage
from clientvault.privacy.models import ConsentRecord
from clientvault.privacy.preferences import CHANNEL as PREFERENCE_CENTRE
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.cursors import locked_cursor
from clientvault.store.schedule import ScheduledJob

logger = logging.getLogger(__name__)

#: The consent trigger's cursor over the consent ledger (a row of ``consumer_cursors``).
CONSENT_CURSOR = "automation.journeys.consents"
#: Consent records younger than this are left for the next run: on PostgreSQL ids become
#: visible in commit order only roughly, and a cursor must not pass a late commit.
CONSENT_SETTLE = timedelta(seconds=2)
WEBHOOK_ATTEMPTS = 8
WEBHOOK_TIMEOUT_S = 10.0


def _advance(store: Store, settings: Settings) -> None:
    while engine.advance_due(store, settings) >= settings.automation.batch_size:
        pass


def start_consent_runs(store: Store, settings: Settings) -> int:
    """Start consent-triggered journeys for consents granted since the last run, and put
    ``Unsubscribed`` on the event log for withdrawals made in the preference centre."""
    started = 0
    with store.sessions.begin() as session:
        cursor = locked_cursor(session, ConsumerCursor, CONSENT_CURSOR)
        if cursor is None:
            return 0
        records = session.scalars(
            select(ConsentRecord)
            .where(
                ConsentRecord.id > cursor.position,
                ConsentRecord.recorded_at <= utcnow() - CONSENT_SETTLE,
            )
            .order_by(ConsentRecord.id)
            .limit(settings.automation.batch_size)
        ).all()
        if not records:
            return 0
        journeys = [
            (journey, definition)
            for journey, definition in engine.active_journeys(session)
            if isinstance(definition.trigger, ConsentTrigger)
        ]
        for record in records:
            if record.decision == "withdrawn" and record.channel == PREFERENCE_CENTRE:
                record_event(
                    session,
                    customer_id=record.customer_id,
                    name="Unsubscribed",
                    message_id=f"cv-unsubscribed-{record.id}",
                    properties={"purpose": record.purpose},
                    at=record.recorded_at,
                )
                continue
            for journey, definition in journeys:
                trigger = definition.trigger
                assert isinstance(trigger, ConsentTrigger)
                if record.decision == "granted" and record.purpose == trigger.purpose:
                    run = engine.start_run(
                        session,
                        journey,
                        definition,
                        customer_id=record.customer_id,
                        entry_key=f"consent:{record.id}",
                        now=utcnow(),
                    )
                    started += run is not None
        cursor.position = records[-1].id
    return started


def report_mail_outcomes(store: Store, settings: Settings) -> int:
    """Put ``Email Sent`` / ``Email Bounced`` on the event log for journey e-mails whose
    delivery is known, and a bounced address's customer on the do-not-contact list."""
    with store.sessions.begin() as session:
        rows = session.execute(
            select(JourneyEmail, OutboxMessage)
            .join(OutboxMessage, OutboxMessage.id == JourneyEmail.outbox_id)
            .where(
                JourneyEmail.reported_at.is_(None),
                (OutboxMessage.sent_at.is_not(None)) | (OutboxMessage.failed_at.is_not(None)),
            )
            .order_by(JourneyEmail.id)
            .limit(settings.automation.batch_size)
        ).all()
        for sent, message in rows:
            outcome = "sent" if message.sent_at is not None else "failed"
            if message.sent_at is None and (message.last_error or "").startswith(BOUNCED):
                outcome = "bounced"
                add_do_not_contact(session, sent.customer_id, reason="bounced")
            if outcome != "failed":
                record_event(
                    session,
                    customer_id=sent.customer_id,
                    name="Email Sent" if outcome == "sent" else "Email Bounced",
                    message_id=f"cv-email-{outcome}-{sent.id}",
                    properties=_email_properties(sent),
                    at=message.sent_at or message.failed_at,
                )
            sent.outcome = outcome
            sent.reported_at = utcnow()
        return len(rows)


def _email_properties(sent: JourneyEmail) -> dict[str, object]:
    return {
        "journey_id": str(sent.journey_id) if sent.journey_id else None,
        "step": sent.step_id,
        "template": sent.template,
        "email_id": sent.id,
    }


def add_do_not_contact(
    session: Session, customer_id: object, *, reason: str, note: str = ""
) -> None:
    """Put a customer on the do-not-contact list (kept as it is if already there)."""
    if session.get(DoNotContact, customer_id) is None:
        session.add(DoNotContact(customer_id=customer_id, reason=reason, note=note[:200]))
        session.flush()


# --- webhooks ---------------------------------------------------------------------------


def webhook_key(store: Store, settings: Settings) -> bytes:
    """The HMAC key signing webhook calls: the configured secret, or one derived from the
    key file's index key (``clientvault journey webhook-secret`` would show it)."""
    secret = settings.automation.webhook_secret
    if secret is not None:
        return secret.get_secret_value().encode()
    return hmac.new(
        store.keystore.material.index_key, b"clientvault/journey-webhooks/v1", hashlib.sha256
    ).digest()


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Clientvault-Signature`` value: HMAC-SHA256 of ``timestamp.body``, hex."""
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def deliver_webhooks(store: Store, settings: Settings) -> int:
    """POST the due webhook calls, signed; failures are retried with back-off, then given
    up. Delivery is at least once: receivers deduplicate on ``Idempotency-Key``. A call to
    a private, loopback or link-local address (``ssrf``) is refused, not retried."""
    now = utcnow()
    with store.sessions.begin() as session:
        due = session.scalars(
            select(JourneyWebhook)
            .where(
                JourneyWebhook.delivered_at.is_(None),
                JourneyWebhook.failed_at.is_(None),
                JourneyWebhook.next_attempt_at <= now,
            )
            .order_by(JourneyWebhook.id)
            .limit(50)
            .with_for_update(skip_locked=True)
        ).all()
        calls = [(c.id, c.url, c.idempotency_key, dict(c.payload)) for c in due]
        for call in due:  # claimed: another run leaves them alone while these are sent
            call.attempts += 1
            call.next_attempt_at = now + timedelta(minutes=5)
    key = webhook_key(store, settings)
    results: dict[int, str | None] = {}
    for call_id, url, idempotency_key, payload in calls:
        results[call_id] = _post(key, url, idempotency_key, payload, settings)
    with store.sessions.begin() as session:
        for call in session.scalars(
            select(JourneyWebhook).where(JourneyWebhook.id.in_(list(results)))
        ):
            error = results[call.id]
            if error is None:
                call.delivered_at = utcnow()
                call.last_error = None
            elif call.attempts >= WEBHOOK_ATTEMPTS or error.startswith(REFUSED):
                call.failed_at = utcnow()
                call.last_error = error[:200]
            else:
                call.last_error = error[:200]
                call.next_attempt_at = utcnow() + timedelta(seconds=5 * 2**call.attempts)
    return len(results)


def _post(
    key: bytes, url: str, idempotency_key: str, payload: dict[str, object], settings: Settings
) -> str | None:
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(utcnow().timestamp()))
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key,
        "X-Clientvault-Timestamp": timestamp,
        "X-Clientvault-Signature": signature(key, timestamp, body),
    }
    try:
        target = destination(url, settings.automation.webhook_allowed_networks)
        connection = target.connection(WEBHOOK_TIMEOUT_S)
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            status = connection.getresponse().status
        finally:
            connection.close()
    except RefusedDestination as exc:
        return f"{REFUSED} {exc}"
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return type(exc).__name__
    return None if 200 <= status < 300 else f"HTTP {status}"


ADVANCE = ScheduledJob(
    name="automation.journeys-advance",
    description="Advance the journeys' runs whose next step is due.",
    schedule=lambda settings: f"every {settings.automation.advance_seconds} seconds",
    run=_advance,
    lease=timedelta(minutes=10),
)
DATES = ScheduledJob(
    name="automation.journeys-dates",
    description="Start date-triggered journeys (birthdays, days after the last order) for today.",
    schedule=lambda settings: "every 15 minutes",
    run=start_date_runs,
    lease=timedelta(minutes=10),
)
CONSENTS = ScheduledJob(
    name="automation.journeys-consents",
    description="Start consent-triggered journeys; record unsubscribes as events.",
    schedule=lambda settings: "every 5 seconds",
    run=start_consent_runs,
    lease=timedelta(minutes=5),
)
MAIL_OUTCOMES = ScheduledJob(
    name="automation.journeys-mail-outcomes",
    description="Record journey e-mails' delivery (Email Sent / Bounced); list bounced addresses.",
    schedule=lambda settings: "every 5 seconds",
    run=report_mail_outcomes,
    lease=timedelta(minutes=5),
)
WEBHOOKS = ScheduledJob(
    name="automation.journeys-webhooks",
    description="Deliver the journeys' signed webhook calls, with retries.",
    schedule=lambda settings: "every 5 seconds",
    run=deliver_webhooks,
    lease=timedelta(minutes=10),
)
CAMPAIGNS = ScheduledJob(
    name="automation.campaigns",
    description="Send the campaigns whose time has come, in batches.",
    schedule=lambda settings: "every 30 seconds",
    run=lambda store, settings: campaigns.send_due_campaigns(store, settings),
    lease=timedelta(minutes=30),
)
OPTINS = ScheduledJob(
    name="automation.newsletter-optin",
    description="E-mail a confirmation link for each newsletter sign-up (double opt-in).",
    schedule=lambda settings: "every 5 seconds",
    run=optin.start_optins,
    lease=timedelta(minutes=5),
)
JOBS = (ADVANCE, DATES, CONSENTS, MAIL_OUTCOMES, WEBHOOKS, CAMPAIGNS, OPTINS)

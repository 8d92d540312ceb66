"""E-mail delivery: the consumer of the transactional outbox (``outbox``), over SMTP.

Each run claims a batch of due messages in a short transaction (``SKIP LOCKED`` on
PostgreSQL, so several workers never claim the same message; the claim is a lease that
expires if the worker dies), opens their recipient and body through the audited reveal path,
sends them over one SMTP connection, then records the result in a second transaction.
Delivery is at least once: a worker killed between sending and recording sends again after
the lease. A failed message is retried with exponential back-off, then given up. A message
of an erased customer cannot be opened any more (the data key is gone): it is dropped.
Logs and errors name message ids and exception types only, never addresses.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import ClientVaultError, Unavailable
from clientvault.identity.models import Customer
from clientvault.messaging.models import OutboxMessage
from clientvault.messaging.outbox import BODY_COLUMN, MailBody
from clientvault.security.pii import reveal
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import SmtpSettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

logger = logging.getLogger(__name__)

#: Who opens the recipient's address and the body (audited as such).
MAILER = Principal.system("mailer", PII_REVEAL)
#: Prefix of ``last_error`` for a permanent failure (an SMTP 5xx answer): a bounce.
BOUNCED = "bounced:"
#: How long a claimed message is left alone before another run may retry it.
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Outgoing:
    """A claimed message, opened and ready to send (in memory only)."""

    id: int
    to: str
    subject: str
    body: MailBody


def deliver_pending(store: Store, smtp: SmtpSettings) -> int:
    """Send one batch of due messages; returns how many were handled (sent or given up)."""
    outgoing, dropped = _claim(store, smtp)
    if not outgoing:
        return dropped
    results: dict[int, str | None] = {}
    try:
        with _connect(smtp) as client:
            for message in outgoing:
                results[message.id] = _send(client, smtp, message)
    except (OSError, smtplib.SMTPException) as exc:
        logger.warning("SMTP connection failed: %s", type(exc).__name__)
        for message in outgoing:
            results.setdefault(message.id, type(exc).__name__)
    _record(store, smtp, results)
    return dropped + len(results)


def drain(store: Store, smtp: SmtpSettings) -> int:
    """Deliver until nothing is due (tests, one-shot jobs); returns how many were handled."""
    total = 0
    while count := deliver_pending(store, smtp):
        total += count
    return total


def _room(session: Session, smtp: SmtpSettings, now: datetime) -> int:
    """How many messages this run may send: the batch, within the per-minute rate limit."""
    if smtp.max_per_minute is None:
        return smtp.batch_size
    recent = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.sent_at >= now - timedelta(minutes=1))
    )
    return max(0, min(smtp.batch_size, smtp.max_per_minute - int(recent or 0)))


def _claim(store: Store, smtp: SmtpSettings) -> tuple[list[Outgoing], int]:
    now = utcnow()
    outgoing: list[Outgoing] = []
    dropped = 0
    with store.sessions.begin() as session:
        room = _room(session, smtp, now)
        if room == 0:
            return [], 0
        due = session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.failed_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(room)
            .with_for_update(skip_locked=True)
        ).all()
        for message in due:
            message.attempts += 1
            message.next_attempt_at = now + LEASE
            opened = _open(session, store, message)
            if opened is None:
                message.failed_at = now
                message.body = None
                dropped += 1
            else:
                outgoing.append(opened)
    return outgoing, dropped


def _open(session: Session, store: Store, message: OutboxMessage) -> Outgoing | None:
    """The message with its recipient and body opened, or None when that is impossible
    (customer erased or without an address: the message is dropped)."""
    email = session.scalar(
        select(Customer.email_sealed).where(
            Customer.id == message.customer_id, Customer.status != "erased"
        )
    )
    if email is None or message.body is None:
        message.last_error = "no recipient (customer erased or without an e-mail)"
        return None
    try:
        opened = reveal(
            session,
            store.keystore,
            principal=MAILER,
            subject_type="customer",
            rows={message.customer_id: {"email": email, BODY_COLUMN: message.body}},
            reason=f"e-mail delivery, outbox message {message.id}",
        )[message.customer_id]
    except ClientVaultError as exc:
        message.last_error = f"cannot be opened ({exc.code})"
        return None
    to, body = opened["email"], opened[BODY_COLUMN]
    if not to or not body:
        message.last_error = "no recipient"
        return None
    return Outgoing(message.id, to, message.subject, MailBody.from_json(body))


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
    try:
        client.ehlo()
        if smtp.starttls:
            cafile = str(smtp.ca_file) if smtp.ca_file is not None else None
            client.starttls(context=ssl.create_default_context(cafile=cafile))
            client.ehlo()
        if smtp.username and smtp.password is not None:
            client.login(smtp.username, smtp.password.get_secret_value())
    except BaseException:
        client.close()
        raise
    return client


def build_message(smtp: SmtpSettings, message: Outgoing) -> EmailMessage:
    """The MIME message: plain text (and HTML if the body has it), with one-click
    unsubscribe headers (RFC 2369, 8058). Its Message-ID is derived from the outbox id, so a
    message sent again after a crash between sending and recording carries the same id and
    receivers can recognise the repeat."""
    mail = EmailMessage()
    mail["From"] = smtp.from_address
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<outbox-{message.id}@clientvault.invalid>"
    mail["List-Unsubscribe"] = f"<{message.body.unsubscribe_url}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body.text)
    if message.body.html is not None:
        mail.add_alternative(message.body.html, subtype="html")
    return mail


def send_now(smtp: SmtpSettings, *, to: str, subject: str, body: MailBody) -> None:
    """Send one message at once, outside the outbox: a template's test send to a staff
    address, which has nothing to retry or record. ``Unavailable`` when delivery is off or
    the relay does not take it (the error names its type only)."""
    if not smtp.enabled:
        raise Unavailable("e-mail delivery is off (smtp.enabled)")
    mail = build_message(smtp, Outgoing(0, to, subject, body))
    del mail["Message-ID"]
    mail["Message-ID"] = make_msgid(domain="clientvault.invalid")
    problem = send_alone(smtp, mail)
    if problem is not None:
        raise Unavailable(f"the e-mail could not be sent ({problem})")


def send_alone(smtp: SmtpSettings, mail: EmailMessage) -> str | None:
    """Send one message over a connection of its own: None when the relay took it, else the
    kind of failure (``ConnectionRefusedError``, ``SMTPAuthenticationError``…)."""
    try:
        client = _connect(smtp)
        try:
            client.send_message(mail)
        finally:
            client.close()
    except (OSError, smtplib.SMTPException) as exc:
        return type(exc).__name__
    return None


def _send(client: smtplib.SMTP, smtp: SmtpSettings, message: Outgoing) -> str | None:
    """Send one message; None on success, else the error's type (no address in it)."""
    try:
        client.send_message(build_message(smtp, message))
    except smtplib.SMTPException as exc:
        logger.warning("message %s not accepted: %s", message.id, type(exc).__name__)
        if _permanent(exc):
            return f"{BOUNCED} {type(exc).__name__}"
        return type(exc).__name__
    return None


def _permanent(exc: smtplib.SMTPException) -> bool:
    """Whether the relay refused the recipient's address for good (5xx to RCPT): a bounce,
    retrying is useless. A refused sender or session (530 "STARTTLS first", a bad login)
    is our configuration, not the address: retried as before."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _ in exc.recipients.values())
    return False


def _record(store: Store, smtp: SmtpSettings, results: dict[int, str | None]) -> None:
    now = utcnow()
    with store.sessions.begin() as session:
        for message in session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(list(results)))
        ):
            error = results[message.id]
            if error is None:
                message.sent_at = now
                message.body = None  # the links inside are secrets: keep them no longer
                message.last_error = None
            elif message.attempts >= smtp.max_attempts or error.startswith(BOUNCED):
                message.failed_at = now
                message.body = None
                message.last_error = error[:200]
            else:
                message.last_error = error[:200]
                message.next_attempt_at = now + timedelta(minutes=2**message.attempts)

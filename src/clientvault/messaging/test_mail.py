"""A test e-mail from the Settings page: is the SMTP relay configured right?

Sent at once over the configured relay (the same connection code as the outbox's delivery:
TLS, login, timeout), not through the outbox, which holds customers' mail only and is sent
only when delivery is enabled: an administrator checks the relay *before* enabling it. The
answer says what failed by the exception's type only; the audit entry records the attempt
and its outcome, not the address (staff addresses stay out of the log like any other).
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.messaging.delivery import send_alone  # the outbox's own connection set-up
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import SmtpSettings

SUBJECT = "clientvault: test e-mail"


def send_test_message(
    session: Session, smtp: SmtpSettings, *, to: str, principal: Principal
) -> str | None:
    """Send one test message to ``to``; ``None`` when the relay accepted it, else the kind of
    failure (``ConnectionRefusedError``, ``SMTPAuthenticationError``...). Audited either way."""
    to = to.strip()
    if "@" not in to or len(to) > 254 or any(c in to for c in "\r\n <>,"):
        raise InvalidInput("give one e-mail address", details={"field": "to"})
    mail = EmailMessage()
    mail["From"] = smtp.from_address
    mail["To"] = to
    mail["Subject"] = SUBJECT
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12], domain="clientvault.invalid")
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(
        "This message was sent from clientvault's Settings page to check the e-mail relay.\n"
        f"Relay: {smtp.host}:{smtp.port}, STARTTLS {'on' if smtp.starttls else 'off'}.\n"
    )
    problem = send_alone(smtp, mail)
    audit.record(
        session,
        principal=principal,
        action="smtp.test_sent",
        target_type="smtp",
        target_ids=[f"{smtp.host}:{smtp.port}"[:64]],
        details={"delivered": problem is None, "problem": problem or ""},
    )
    return problem

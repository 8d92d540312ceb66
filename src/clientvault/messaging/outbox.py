"""The transactional outbox of e-mails to customers.

A step that must tell a customer something queues the message in its own transaction: the
message exists if and only if the step committed, and ``delivery`` sends the queue over SMTP.
The body may carry secrets (signed links) and personal data, so it is sealed with the
customer's data key (column ``mail_body``), which also makes it unreadable once the customer
is erased.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from clientvault.errors import NotFound
from clientvault.messaging.models import OutboxMessage
from clientvault.store.context import Store
from clientvault.store.keystore import DataKey
from clientvault.store.sealing import seal_fields

#: The sealed column name (part of the ciphertext's associated data).
BODY_COLUMN = "mail_body"


@dataclass(frozen=True)
class MailBody:
    """What a queued e-mail says, once unsealed by the delivery job."""

    text: str
    preferences_url: str
    unsubscribe_url: str
    #: An HTML alternative of ``text`` (marketing e-mails); None: plain text only.
    html: str | None = None

    def to_json(self) -> str:
        """The sealed form's plaintext."""
        return json.dumps(
            {
                "text": self.text,
                "preferences_url": self.preferences_url,
                "unsubscribe_url": self.unsubscribe_url,
                "html": self.html,
            }
        )

    @classmethod
    def from_json(cls, value: str) -> MailBody:
        """Read back what ``to_json`` wrote."""
        data = json.loads(value)
        return cls(data["text"], data["preferences_url"], data["unsubscribe_url"], data.get("html"))


def sealing_key(store: Store, customer_id: uuid.UUID) -> DataKey:
    """The customer's data key that seals a message to them, or ``NotFound`` (erased or
    unknown customers get no mail); asked before anything else is written for the message."""
    key = store.keystore.keys_for([customer_id]).get(customer_id)
    if key is None:
        raise NotFound("no such customer")
    return key


def enqueue(
    session: Session,
    *,
    key: DataKey,
    customer_id: uuid.UUID,
    template: str,
    subject: str,
    body: MailBody,
) -> OutboxMessage:
    """Queue an e-mail to a customer in the caller's transaction, its body sealed with ``key``.

    ``subject`` and ``template`` are stored in the clear, so they must not hold personal data.
    """
    message = OutboxMessage(
        customer_id=customer_id,
        template=template,
        subject=subject,
        body=seal_fields(key, {BODY_COLUMN: body.to_json()})[BODY_COLUMN],
    )
    session.add(message)
    session.flush()
    return message

"""The transactional outbox of e-mails to customers, and the messages the privacy layer sends.

A step that must tell the customer something (request received, extended, completed…)
queues the message in its own transaction: the message exists if and only if the step
committed. ``automation.mail`` delivers the queue over SMTP. Every message carries a
preference-centre link and a one-click unsubscribe address (RFC 8058), both signed links
scoped to the customer; since those are secrets, the body is sealed with the customer's data
key (column ``mail_body``), which also makes it unreadable once the customer is erased.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from clientvault.errors import NotFound
from clientvault.privacy import links
from clientvault.privacy.requests.models import OutboxMessage
from clientvault.settings import PrivacySettings
from clientvault.store.context import Store
from clientvault.store.sealing import seal_fields

#: The sealed column name (part of the ciphertext's associated data).
BODY_COLUMN = "mail_body"
PREFERENCES_PATH = "/preferences"
UNSUBSCRIBE_PATH = "/preferences/unsubscribe"
VERIFY_PATH = "/preferences/verify"


@dataclass(frozen=True)
class MailBody:
    """What a queued e-mail says, once unsealed by the delivery job."""

    text: str
    preferences_url: str
    unsubscribe_url: str

    def to_json(self) -> str:
        """The sealed form's plaintext."""
        return json.dumps(
            {
                "text": self.text,
                "preferences_url": self.preferences_url,
                "unsubscribe_url": self.unsubscribe_url,
            }
        )

    @classmethod
    def from_json(cls, value: str) -> MailBody:
        """Read back what ``to_json`` wrote."""
        data = json.loads(value)
        return cls(data["text"], data["preferences_url"], data["unsubscribe_url"])


def link_url(policy: PrivacySettings, path: str, token: str) -> str:
    """An absolute link on the public site carrying a token."""
    return f"{policy.public_url.rstrip('/')}{path}?token={token}"


def preferences_link(
    session: Session, store: Store, *, policy: PrivacySettings, customer_id: uuid.UUID
) -> str:
    """A new signed preference-centre token for this customer (short-lived, reusable)."""
    return links.issue(
        session,
        key=links.link_key(store, policy),
        purpose="preferences",
        customer_id=customer_id,
        lifetime=timedelta(hours=policy.preference_link_hours),
    )


def enqueue(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    customer_id: uuid.UUID,
    template: str,
    subject: str,
    text: str,
) -> OutboxMessage:
    """Queue an e-mail to a customer in the caller's transaction (with signed links added).

    ``subject`` and ``template`` are stored in the clear, so they must not hold personal
    data; ``text`` is sealed.
    """
    keys = store.keystore.keys_for([customer_id])
    key = keys.get(customer_id)
    if key is None:
        raise NotFound("no such customer")
    token = preferences_link(session, store, policy=policy, customer_id=customer_id)
    preferences_url = link_url(policy, PREFERENCES_PATH, token)
    body = MailBody(
        text=(
            f"{text}\n\n-- \nSee and change what you agreed to, download your data or ask "
            f"for its erasure: {preferences_url}\n{policy.controller_name}, data protection "
            f"officer: {policy.dpo_contact}\n"
        ),
        preferences_url=preferences_url,
        unsubscribe_url=link_url(policy, UNSUBSCRIBE_PATH, token),
    )
    message = OutboxMessage(
        customer_id=customer_id,
        template=template,
        subject=subject,
        body=seal_fields(key, {BODY_COLUMN: body.to_json()})[BODY_COLUMN],
    )
    session.add(message)
    session.flush()
    return message

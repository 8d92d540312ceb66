"""The e-mails the privacy layer sends to customers (request received, extended, completed…),
queued in the messaging outbox (``messaging.outbox``) in the step's own transaction.

Every message carries a preference-centre link and a one-click unsubscribe address (RFC 8058),
both signed links scoped to the customer; the outbox seals the body, since those are secrets.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from clientvault.messaging import outbox
from clientvault.messaging.models import OutboxMessage
from clientvault.messaging.outbox import MailBody
from clientvault.privacy import links
from clientvault.settings import PrivacySettings
from clientvault.store.context import Store

PREFERENCES_PATH = "/preferences"
UNSUBSCRIBE_PATH = "/preferences/unsubscribe"
VERIFY_PATH = "/preferences/verify"


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
    """Queue an e-mail to a customer in the caller's transaction (with signed links added),
    or ``NotFound`` if the customer has no data key (erased or unknown).

    ``subject`` and ``template`` are stored in the clear, so they must not hold personal
    data; ``text`` is sealed.
    """
    key = outbox.sealing_key(store, customer_id)
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
    return outbox.enqueue(
        session, key=key, customer_id=customer_id, template=template, subject=subject, body=body
    )

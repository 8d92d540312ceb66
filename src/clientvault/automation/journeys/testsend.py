"""A template's test send: the template rendered for a chosen customer and e-mailed at once
to a staff member's address (never anyone else's), so a marketer sees the real thing.

The customer's names are opened through the audited reveal path by the staff member who asks,
if they may see personal data; otherwise the sample customer's names stand in for them (the
rest of the customer — country, city, traits — is not personal data in the clear). The
preference and unsubscribe links are placeholders: a working link to the customer's
preference centre must never reach staff. Tracking links are not made either. The send is
audited; nothing is queued in the outbox (a failure is reported at once, not retried).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from clientvault.automation.journeys import catalogue, mail
from clientvault.errors import InvalidInput
from clientvault.messaging.delivery import send_now
from clientvault.messaging.outbox import MailBody
from clientvault.privacy.consent import live_customer
from clientvault.security import audit
from clientvault.security.models import User
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import Settings
from clientvault.store.context import Store

SUBJECT_PREFIX = "[Test] "


@dataclass(frozen=True)
class TestSend:
    """What was sent: to which staff address, the subject, and whether the customer's own
    names were used (False: the sample's, the sender may not see personal data)."""

    to: str
    subject: str
    names_revealed: bool


def send_test(
    store: Store,
    settings: Settings,
    *,
    template_name: str,
    customer_id: uuid.UUID,
    to: str | None,
    by: Principal,
) -> TestSend:
    """Render ``template_name`` for the customer and send it to ``to`` (default: the
    caller's own address), which must be an active staff member's (``InvalidInput``
    otherwise); ``NotFound`` for an unknown template or customer, ``Unavailable`` when the
    relay does not take it."""
    with store.sessions.begin() as session:
        template = catalogue.get_template(session, template_name)
        which = (
            func.lower(User.email) == to.strip().lower()
            if to
            else User.id == (uuid.UUID(by.id) if by.kind == "user" else None)
        )
        staff = session.scalar(select(User).where(which, User.is_active))
        if staff is None:
            raise InvalidInput(
                "to: a test send goes to a staff member's address only", details={"field": "to"}
            )
        customer = live_customer(session, customer_id)
        sample = mail.sample_context()
        revealed = by.can(PII_REVEAL)
        person = (
            mail.customer_context(
                session,
                store,
                customer,
                reason=f"template test send of {template.name}",
                principal=by,
            )
            if revealed
            else {
                **mail.attributes_of(customer),
                **{name: sample["customer"][name] for name in ("first_name", "last_name")},
            }
        )
        try:
            rendered = mail.render(template, {**sample, "customer": person})
        except mail.TemplateFailed as exc:
            raise InvalidInput(f"template: {exc}", details={"field": "template"}) from None
        audit.record(
            session,
            principal=by,
            action="email_template.test_send",
            target_type="email_template",
            target_ids=[template.name],
            details={"customer": str(customer_id), "staff_user": str(staff.id)},
        )
        address, subject = staff.email, SUBJECT_PREFIX + (rendered.subject or template.name)
    body = MailBody(
        text=f"{rendered.text}\n\n-- \nTest send for customer {customer_id}; the links to "
        "the preference centre below are placeholders.\n",
        preferences_url=sample["preferences_url"],
        unsubscribe_url=sample["unsubscribe_url"],
        html=rendered.html or None,
    )
    send_now(settings.smtp, to=address, subject=subject[:200], body=body)
    return TestSend(to=address, subject=subject[:200], names_revealed=revealed)

"""The demo's privacy step: a few data-subject requests (each e-mails its receipt and
verification link, which the dev mailbox shows once ``serve`` delivers the outbox to the
mail catcher) and one example entry of the breach register.

Everything goes through the privacy services a DPO's actions would use, audited as the
system job ``demo``; the people are the demo's newest customers with an e-mail address.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from clientvault.identity.models import Customer
from clientvault.privacy.breaches import BreachReport, register
from clientvault.privacy.requests.lifecycle import Intake, create_request
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

DEMO = Principal.system("demo")
#: The kinds of request the demo opens, one customer each.
KINDS = ("access", "erasure", "portability")


def open_requests(store: Store, settings: Settings) -> str:
    """Open one request of each of ``KINDS`` and record an example breach; one line."""
    now = utcnow()
    with store.sessions.begin() as session:
        people = session.scalars(
            select(Customer.id)
            .where(Customer.status == "active", Customer.email_sealed.is_not(None))
            .order_by(Customer.created_at.desc(), Customer.id)
            .limit(len(KINDS))
        ).all()
        for customer_id, kind in zip(people, KINDS, strict=False):
            create_request(
                session,
                store,
                policy=settings.privacy,
                intake=Intake(customer_id=customer_id, kind=kind, channel="e-mail"),
                principal=DEMO,
            )
        register(
            session,
            report=BreachReport(
                title="Example: a support laptop was stolen",
                description="Demo entry. A laptop holding a week of support exports was "
                "stolen from a car; its disk was encrypted.",
                detected_at=now - timedelta(days=3),
                occurred_at=now - timedelta(days=4),
                risk="unlikely",
                data_categories=("contact details",),
                approx_subjects=40,
                measures="Full-disk encryption with a strong passphrase; the key was not "
                "with the laptop. Exports now expire after 24 hours.",
            ),
            principal=DEMO,
        )
    return (
        f"Privacy: {len(people)} data-subject requests awaiting verification (their e-mails "
        "are in the console's Dev mailbox once served) and an example breach."
    )

"""Opening a ticket's sealed text: its subject and messages are sealed with the customer's
data key and read only through ``security.pii.revealing`` (permission check and one audit entry
per customer), by an agent reading a conversation or the category classifier training."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.security.pii import Opener, revealing
from clientvault.security.principal import Principal
from clientvault.store.context import Store
from clientvault.support.models import Ticket, TicketMessage

SUBJECT_COLUMN = "support_subject"
BODY_COLUMN = "support_message"


def subject_of(opener: Opener, ticket: Ticket) -> str | None:
    """A ticket's subject in clear (inside ``revealing``)."""
    rows = opener({ticket.customer_id: {SUBJECT_COLUMN: ticket.subject_sealed}})
    return rows[ticket.customer_id][SUBJECT_COLUMN]


def body_of(opener: Opener, message: TicketMessage) -> str:
    """A message's body in clear (inside ``revealing``)."""
    rows = opener({message.customer_id: {BODY_COLUMN: message.body_sealed}})
    return rows[message.customer_id][BODY_COLUMN] or ""


def customer_texts(
    session: Session,
    store: Store,
    found: Sequence[Ticket],
    *,
    principal: Principal,
    reason: str,
) -> dict[uuid.UUID, str]:
    """Each ticket's subject and customer-written messages as one text, opened in one
    audited block: what a ticket is about, without the agents' and the bot's answers."""
    if not found:
        return {}
    by_id = {t.id: t for t in found}
    messages: dict[uuid.UUID, list[TicketMessage]] = {}
    ids = list(by_id)
    for start in range(0, len(ids), 500):
        for message in session.scalars(
            select(TicketMessage)
            .where(
                TicketMessage.ticket_id.in_(ids[start : start + 500]),
                TicketMessage.author == "customer",
            )
            .order_by(TicketMessage.created_at, TicketMessage.id)
        ):
            messages.setdefault(message.ticket_id, []).append(message)
    with revealing(
        session, store.keystore, principal=principal, subject_type="customer", reason=reason
    ) as opener:
        return {
            ticket_id: "\n".join(
                part
                for part in [
                    subject_of(opener, ticket) if ticket.subject_sealed else None,
                    *(body_of(opener, m) for m in messages.get(ticket_id, [])),
                ]
                if part
            )
            for ticket_id, ticket in by_id.items()
        }

"""The personal-data holder of ``support``: tickets and their conversations.

An export lists the tickets (category, status, times, CSAT) and the sealed conversation's
metadata — the subject and messages themselves are opened by the export through the audited
path only if the exporter may reveal; erasure deletes tickets and messages (and the
customer's key, destroyed by the erasure, leaves any copy in a backup unreadable).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select

from clientvault.privacy.holders.registry import (
    Holder,
    HolderContext,
    HolderErasure,
    Rows,
    register_holder,
    rows_of,
)
from clientvault.support.models import Ticket, TicketMessage


def _export(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    tickets = rows_of(ctx.session, Ticket, customer_ids=customer_ids, exclude=("subject_sealed",))
    messages = rows_of(
        ctx.session, TicketMessage, customer_ids=customer_ids, exclude=("body_sealed",)
    )
    by_ticket: dict[object, list[dict[str, object]]] = {}
    for message in messages:
        by_ticket.setdefault(message["ticket_id"], []).append(
            {k: message[k] for k in ("author", "created_at")}
        )
    return [{**ticket, "messages": by_ticket.get(ticket["id"], [])} for ticket in tickets]


def _erase(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    ids = list(customer_ids)
    ctx.session.execute(delete(TicketMessage).where(TicketMessage.customer_id.in_(ids)))
    result = ctx.session.execute(delete(Ticket).where(Ticket.customer_id.in_(ids)))
    return HolderErasure("deleted", int(result.rowcount))  # type: ignore[attr-defined]


def _purge(ctx: HolderContext, cutoff: datetime) -> int:
    old = select(Ticket.id).where(Ticket.status == "closed", Ticket.resolved_at < cutoff)
    ctx.session.execute(delete(TicketMessage).where(TicketMessage.ticket_id.in_(old)))
    result = ctx.session.execute(
        delete(Ticket).where(Ticket.status == "closed", Ticket.resolved_at < cutoff)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


TICKETS = register_holder(
    Holder(
        name="support.tickets",
        domain="support",
        description="Support tickets and their conversations (subject and messages sealed).",
        tables=("support_tickets", "support_messages"),
        categories=("support requests", "conversations"),
        purposes=("order_fulfilment", "analytics"),
        retention="closed tickets purged 36 months after resolution (retention.holder_months)",
        sources=("the customer (chat, e-mail, web form)", "helpdesk events", "staff"),
        recipients=("support agents",),
        export=_export,
        erase=_erase,
        purge=_purge,
        erase_order=50,
    )
)

"""The agent's customer card: everything needed to answer a ticket in one screen.

The customer's 360° view (golden record masked unless the agent reveals it with a reason,
consents, recent events and orders — ``customers.view360``, audited as a profile view), their
previous tickets with their CSAT, and their scores (RFM group, persona, predictions…).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from clientvault.customers.schemas import Customer360
from clientvault.customers.scores import CustomerScore, scores_of
from clientvault.customers.view360 import customer_360
from clientvault.security.principal import Principal
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store
from clientvault.support.models import Ticket
from clientvault.support.tickets import customer_tickets

PREVIOUS_LIMIT = 20


@dataclass(frozen=True)
class AgentCard:
    """The customer behind a ticket, as the agent may see them."""

    view: Customer360
    previous: list[Ticket]
    scores: list[CustomerScore]


def agent_card(
    session: Session,
    store: Store,
    *,
    ticket: Ticket,
    viewer: Principal,
    reason: str | None,
    settings: IdentitySettings,
) -> AgentCard:
    """The card of the ticket's customer (identifiers revealed only with a reason)."""
    view = customer_360(
        session,
        store,
        customer_id=ticket.customer_id,
        viewer=viewer,
        reason=reason,
        settings=settings,
    )
    previous = customer_tickets(
        session, view.golden.profile_ids, limit=PREVIOUS_LIMIT, besides=ticket.id
    )
    return AgentCard(view, previous, scores_of(session, view.golden.customer_id))

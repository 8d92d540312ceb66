"""The chat widget's hand-over: a visitor's conversation with the bot becomes a ticket.

The visitor is identified from the snippet's anonymous id (if tracking already tied it to a
profile) or by the e-mail they give; an unknown e-mail starts a new profile, as a sign-up
would. Nothing personal is ever sent back to the widget — not even whether the e-mail was
known — and the ticket records how the visitor was identified, so the agent verifies an
e-mail-only identification before discussing anything personal.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.identity.profiles import create_customers, find_by_email, find_by_identifier
from clientvault.identity.schemas import CustomerCreate
from clientvault.store.context import Store
from clientvault.support import tickets
from clientvault.support.models import Ticket

MAX_TRANSCRIPT = 50


@dataclass(frozen=True)
class ChatLine:
    """One line of the widget's conversation."""

    author: str  # "visitor" or "bot"
    text: str


def identify(
    session: Session,
    store: Store,
    *,
    anonymous_id: str | None,
    email: str | None,
    default_region: str,
) -> tuple[uuid.UUID | None, str]:
    """The visitor's profile and how it was found, or ``(None, "unknown")`` when the widget
    must ask for an e-mail."""
    if anonymous_id:
        found = find_by_identifier(session, store, kind="anonymous_id", value=anonymous_id)
        if found is not None:
            return found, "tracked visitor (anonymous id)"
    if email:
        known = find_by_email(session, store, email=email)
        if known:
            return known[0], "e-mail given in the chat (not verified)"
        [created] = create_customers(
            session,
            store,
            profiles=[CustomerCreate(email=email)],
            source="chat",
            default_region=default_region,
        )
        return created, "e-mail given in the chat (new profile, not verified)"
    return None, "unknown"


def hand_over(
    session: Session,
    store: Store,
    *,
    customer_id: uuid.UUID,
    identified_by: str,
    transcript: Sequence[ChatLine],
    language: str | None,
    zone: ZoneInfo,
) -> Ticket:
    """Open a chat ticket holding the transcript (sealed), routed like any other."""
    if not transcript or len(transcript) > MAX_TRANSCRIPT:
        raise InvalidInput(
            f"a transcript of 1 to {MAX_TRANSCRIPT} lines", details={"field": "transcript"}
        )
    questions = [line.text for line in transcript if line.author == "visitor"]
    first_question = questions[0] if questions else None
    ticket = tickets.open_ticket(
        session,
        store,
        tickets.NewTicket(
            customer_id=customer_id,
            subject=(first_question or "Chat")[:200],
            language=language,
            channel="chat",
        ),
        zone=zone,
        text="\n".join(questions),
    )
    ticket.details = {"identified_by": identified_by}
    for line in transcript:
        tickets.add_message(
            session,
            store,
            ticket,
            author="customer" if line.author == "visitor" else "bot",
            body=line.text,
        )
    session.flush()
    return ticket

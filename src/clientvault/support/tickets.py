"""Tickets: opening, routing, the conversation, resolution and the CSAT survey.

Every function works in the caller's transaction. Subjects and messages are sealed with the
customer's data key when written and opened only through ``security.pii.revealing`` (permission
check and audit entry), like every other personal field.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from clientvault.identity.models import Customer
from clientvault.ingest.event_log import append_event
from clientvault.messaging.models import OutboxMessage
from clientvault.messaging.outbox import sealing_key
from clientvault.privacy import links, notices
from clientvault.privacy.audiences import audience
from clientvault.security.pii import revealing
from clientvault.security.principal import Principal
from clientvault.settings import PrivacySettings, Settings, SupportSettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.sealing import seal_fields
from clientvault.support import categories, routing
from clientvault.support.models import (
    ASSIGNED_OPEN,
    OPEN_STATUSES,
    PRIORITIES,
    SupportAgent,
    Ticket,
    TicketMessage,
)
from clientvault.support.texts import BODY_COLUMN, SUBJECT_COLUMN, body_of, subject_of

MAX_MESSAGE = 10_000
_CATEGORY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
CSAT_TEMPLATE = "csat_survey"
CSAT_PATH = "/support/csat"
CSAT_EVENT = "CSAT Survey Answered"
#: The purpose a CSAT survey is sent under: measuring the service (legitimate interest, so
#: an opt-out, a restriction or an erasure stops it).
CSAT_PURPOSE = "analytics"


@dataclass(frozen=True)
class NewTicket:
    """A ticket as any channel submits it (validated by the caller's schema)."""

    customer_id: uuid.UUID
    subject: str | None = None
    message: str | None = None
    category: str | None = None
    priority: str = "normal"
    language: str | None = None
    channel: str = "api"
    external_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ConversationLine:
    """One message as an agent reads it (opened through the audited path)."""

    author: str
    agent_id: uuid.UUID | None
    created_at: datetime
    body: str


def _check_text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_MESSAGE:
        raise InvalidInput(
            f"{field} is longer than {MAX_MESSAGE} characters", details={"field": field}
        )
    return value or None


def open_ticket(
    session: Session,
    store: Store,
    new: NewTicket,
    *,
    zone: ZoneInfo,
    now: datetime | None = None,
    text: str | None = None,
) -> Ticket:
    """Create a ticket (its subject and first message sealed), record the classifier's
    category suggestion for ``text`` (by default the subject and message, read before they
    are sealed) and route it at once."""
    if new.priority not in PRIORITIES:
        raise InvalidInput(
            f"priority must be one of {', '.join(PRIORITIES)}", details={"field": "priority"}
        )
    customer = session.get(Customer, new.customer_id)
    if customer is None or customer.merged_into_id is not None:
        raise NotFound("no such customer")
    key = sealing_key(store, new.customer_id)
    subject = _check_text(new.subject, "subject")
    ticket = Ticket(
        external_id=new.external_id,
        customer_id=new.customer_id,
        priority=new.priority,
        category=new.category,
        language=new.language or customer.language,
        channel=new.channel,
        subject_sealed=seal_fields(key, {SUBJECT_COLUMN: subject})[SUBJECT_COLUMN],
        created_at=new.created_at or now or utcnow(),
    )
    session.add(ticket)
    session.flush()
    body = _check_text(new.message, "message")
    if body:
        add_message(session, store, ticket, author="customer", body=body)
    categories.apply_suggestion(
        session, ticket, text if text is not None else "\n".join(filter(None, (subject, body)))
    )
    route(session, ticket, zone=zone, now=now or utcnow())
    return ticket


def add_message(
    session: Session,
    store: Store,
    ticket: Ticket,
    *,
    author: str,
    body: str,
    agent_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> TicketMessage:
    """Append a message (sealed with the customer's key) to a ticket's conversation."""
    text = _check_text(body, "body")
    if not text:
        raise InvalidInput("a message needs some text", details={"field": "body"})
    key = sealing_key(store, ticket.customer_id)
    message = TicketMessage(
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        author=author,
        agent_id=agent_id,
        body_sealed=seal_fields(key, {BODY_COLUMN: text})[BODY_COLUMN],
        created_at=at or utcnow(),
    )
    session.add(message)
    return message


def agent_states(session: Session, *, zone: ZoneInfo, now: datetime) -> list[routing.AgentState]:
    """Every active agent as routing sees them now: open tickets, shift, last assignment.

    Two queries whose cost grows with the agents, not with the tickets waiting in the queue
    nor the closed ones (the grouped count of every open ticket routing ran before was
    O(open tickets) on each decision): the loads, a count grouped by agent over
    ``ix_support_tickets_open_by_agent``, a partial index holding the assigned open tickets
    only — at most the agents' capacities, whatever the queue's length; and each agent's
    latest assignment, one look-up at the end of ``ix_support_tickets_agent_assigned`` per
    agent. (A load counter on the agent, kept by every write, would be O(agents) too but
    drifts as soon as one path — an erasure's delete, a helpdesk event, a retention purge —
    forgets it; a count over an index cannot.)
    """
    loads = dict(
        session.execute(
            select(Ticket.assigned_agent_id, func.count())
            .where(ASSIGNED_OPEN)
            .group_by(Ticket.assigned_agent_id)
        ).all()
    )
    latest = (
        select(Ticket.assigned_at)
        .where(Ticket.assigned_agent_id == SupportAgent.user_id, Ticket.assigned_at.is_not(None))
        .order_by(Ticket.assigned_at.desc())
        .limit(1)
        .correlate(SupportAgent)
        .scalar_subquery()
    )
    local = now.astimezone(zone)
    return [
        routing.AgentState(
            user_id=agent.user_id,
            skills=frozenset(agent.skills),
            languages=frozenset(agent.languages),
            capacity=agent.capacity,
            open_tickets=int(loads.get(agent.user_id, 0)),
            working=routing.is_working(agent.start_hour, agent.end_hour, agent.weekdays, local),
            last_assigned_at=last,
        )
        for agent, last in session.execute(
            select(SupportAgent, latest).where(SupportAgent.active.is_(True))
        )
    ]


def routing_category(ticket: Ticket) -> str | None:
    """The category routing uses: the agent's, else a confident suggestion."""
    if ticket.category is not None:
        return ticket.category
    if (ticket.suggestion_confidence or 0.0) >= categories.ROUTING_CONFIDENCE:
        return ticket.suggested_category
    return None


def previous_agent(session: Session, ticket: Ticket, category: str | None) -> uuid.UUID | None:
    """The agent who solved this customer's latest earlier ticket of the same category."""
    return session.scalar(
        select(Ticket.assigned_agent_id)
        .where(
            Ticket.customer_id == ticket.customer_id,
            Ticket.id != ticket.id,
            Ticket.category == category,
            Ticket.status.in_(("resolved", "closed")),
            Ticket.assigned_agent_id.is_not(None),
        )
        .order_by(Ticket.resolved_at.desc())
        .limit(1)
    )


def route(session: Session, ticket: Ticket, *, zone: ZoneInfo, now: datetime) -> routing.Decision:
    """Give an open ticket to the best agent now (or leave it queued), recording why."""
    category = routing_category(ticket)
    decision = routing.choose_agent(
        routing.TicketNeeds(category, ticket.language, previous_agent(session, ticket, category)),
        agent_states(session, zone=zone, now=now),
    )
    suggested = decision.agent_id is not None and category != ticket.category
    ticket.assigned_agent_id = decision.agent_id
    ticket.assigned_at = now if decision.agent_id else None
    ticket.assignment_reason = (
        decision.reason + (" (category suggested by the classifier)" if suggested else "")
    )[:300]
    session.flush()
    return decision


def assign_queued(session: Session, *, zone: ZoneInfo, now: datetime) -> int:
    """Route the queued tickets, most urgent then oldest first, until agents are full;
    returns how many were assigned. Run by the worker and after each resolution."""
    urgency = {p: rank for rank, p in enumerate(reversed(PRIORITIES))}
    queued = sorted(
        session.scalars(
            select(Ticket).where(Ticket.status == "open", Ticket.assigned_agent_id.is_(None))
        ),
        key=lambda t: (urgency.get(t.priority, 99), t.created_at),
    )
    assigned = 0
    for ticket in queued:
        if route(session, ticket, zone=zone, now=now).agent_id is None:
            break  # nobody has room: the rest wait too
        assigned += 1
    return assigned


def reassign_stale(
    session: Session, *, settings: SupportSettings, zone: ZoneInfo, now: datetime
) -> int:
    """Send back to routing the tickets still unanswered ``reassign_after_minutes`` after
    their assignment whose agent is inactive or off shift; returns how many moved."""
    cutoff = now - timedelta(minutes=settings.reassign_after_minutes)
    states = {a.user_id: a for a in agent_states(session, zone=zone, now=now)}
    moved = 0
    for ticket in session.scalars(
        select(Ticket).where(
            Ticket.status == "open",
            Ticket.first_response_at.is_(None),
            Ticket.assigned_agent_id.is_not(None),
            Ticket.assigned_at <= cutoff,
        )
    ):
        agent = states.get(ticket.assigned_agent_id)  # type: ignore[arg-type]
        if agent is not None and agent.working:
            continue
        previous = ticket.assigned_agent_id
        ticket.assigned_agent_id = None
        session.flush()
        decision = route(session, ticket, zone=zone, now=now)
        if decision.agent_id != previous:
            ticket.assignment_reason = (
                f"re-assigned: no answer after {settings.reassign_after_minutes} min; "
                + decision.reason
            )[:300]
            moved += 1
    return moved


def set_category(session: Session, *, ticket_id: uuid.UUID, category: str | None) -> Ticket:
    """The agent's category for a ticket (``None`` clears it): what routing, the knowledge
    base's suggestions and the classifier's training read; the suggestion stays beside it."""
    if category is not None and not _CATEGORY.match(category):
        raise InvalidInput(
            "a category is a short lower-case word (letters, digits, - and _)",
            details={"field": "category"},
        )
    ticket = get_ticket(session, ticket_id)
    ticket.category = category
    session.flush()
    return ticket


def get_ticket(session: Session, ticket_id: uuid.UUID) -> Ticket:
    """One ticket, or ``NotFound``."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound("no such ticket")
    return ticket


def list_tickets(
    session: Session,
    *,
    status: str | None = None,
    agent_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    queued: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[Ticket]:
    """Tickets, newest first, filtered by status, agent, customer or "waiting for an agent"."""
    query = select(Ticket)
    if status is not None:
        query = query.where(Ticket.status == status)
    if agent_id is not None:
        query = query.where(Ticket.assigned_agent_id == agent_id)
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    if queued:
        query = query.where(Ticket.status == "open", Ticket.assigned_agent_id.is_(None))
    return list(
        session.scalars(
            query.order_by(Ticket.created_at.desc(), Ticket.id).limit(limit).offset(offset)
        )
    )


def customer_tickets(
    session: Session,
    customer_ids: list[uuid.UUID],
    *,
    limit: int = 20,
    besides: uuid.UUID | None = None,
) -> list[Ticket]:
    """The tickets of a person (every profile merged into them: ``customer_ids``), newest
    first, up to ``limit``, without ``besides``: the 360° page and the agent's card list them."""
    query = select(Ticket).where(Ticket.customer_id.in_(customer_ids))
    if besides is not None:
        query = query.where(Ticket.id != besides)
    return list(session.scalars(query.order_by(Ticket.created_at.desc(), Ticket.id).limit(limit)))


def reply(
    session: Session, store: Store, *, ticket_id: uuid.UUID, principal: Principal, body: str
) -> TicketMessage:
    """An agent's answer: added to the conversation; the first one stops the first-response
    clock and the agent counts as active."""
    ticket = get_ticket(session, ticket_id)
    if ticket.status not in OPEN_STATUSES:
        raise Conflict("this ticket is closed")
    now, agent_id = utcnow(), staff_id(principal)
    message = add_message(
        session, store, ticket, author="agent", agent_id=agent_id, body=body, at=now
    )
    ticket.first_response_at = ticket.first_response_at or now
    ticket.status = "pending"
    if ticket.assigned_agent_id is None and agent_id is not None:
        ticket.assigned_agent_id, ticket.assigned_at = agent_id, now
        ticket.assignment_reason = "taken by the agent who answered"
    _touch_agent(session, agent_id, now)
    session.flush()
    return message


def staff_id(principal: Principal) -> uuid.UUID | None:
    """The member of staff acting, or ``None`` for a system job."""
    return uuid.UUID(principal.id) if principal.kind == "user" else None


def _touch_agent(session: Session, user_id: uuid.UUID | None, now: datetime) -> None:
    agent = session.get(SupportAgent, user_id) if user_id else None
    if agent is not None:
        agent.last_active_at = now


def resolve(
    session: Session,
    store: Store,
    *,
    ticket_id: uuid.UUID,
    principal: Principal,
    settings: Settings,
) -> bool:
    """Mark a ticket resolved, give queued tickets to the freed agent, and e-mail the CSAT
    survey when the customer's choices and the survey frequency allow; returns whether a
    survey was queued."""
    ticket = get_ticket(session, ticket_id)
    if ticket.status not in OPEN_STATUSES:
        raise Conflict("this ticket is closed already")
    now = utcnow()
    ticket.status, ticket.resolved_at = "resolved", now
    _touch_agent(session, staff_id(principal), now)
    session.flush()
    assign_queued(session, zone=settings.zone, now=now)
    return queue_csat_survey(
        session, store, ticket=ticket, policy=settings.privacy, settings=settings.support, now=now
    )


def queue_csat_survey(
    session: Session,
    store: Store,
    *,
    ticket: Ticket,
    policy: PrivacySettings,
    settings: SupportSettings,
    now: datetime,
) -> bool:
    """Queue "How did we do?" for a resolved ticket, unless the customer may not be contacted
    for measurement (opt-out, restriction, erasure: ``privacy.audiences``) or was surveyed
    within ``csat_survey_days``."""
    allowed = session.scalar(
        audience(
            session,
            purpose=CSAT_PURPOSE,
            customers=select(Customer.id).where(Customer.id == ticket.customer_id),
        )
    )
    if allowed is None:
        return False
    recent = session.scalar(
        select(func.count()).where(
            OutboxMessage.customer_id == ticket.customer_id,
            OutboxMessage.template == CSAT_TEMPLATE,
            OutboxMessage.created_at >= now - timedelta(days=settings.csat_survey_days),
        )
    )
    if recent:
        return False
    # The answer link is signed like the preference centre's (same lifetime, same customer):
    # it proves the answer comes from the customer's mailbox.
    token = notices.preferences_link(session, store, policy=policy, customer_id=ticket.customer_id)
    rate = notices.link_url(policy, CSAT_PATH, token) + f"&ticket={ticket.id}&score="
    notices.enqueue(
        session,
        store,
        policy=policy,
        customer_id=ticket.customer_id,
        template=CSAT_TEMPLATE,
        subject="How did we do?",
        text=(
            "Your support request is resolved. How satisfied are you with the help you got? "
            "Answer with one click, from 1 (not at all) to 5 (very):\n"
            + "\n".join(f"{n}: {rate}{n}" for n in range(1, 6))
        ),
    )
    return True


def record_csat(session: Session, *, ticket_id: uuid.UUID, score: int) -> Ticket:
    """Record a customer's CSAT answer (1 to 5) on their resolved ticket, and put it on the
    event log as ``CSAT Survey Answered`` so analytics counts it with the helpdesk's answers.
    A second answer changes the score; the log keeps the first (one event per ticket)."""
    if not 1 <= score <= 5:
        raise InvalidInput("a CSAT score is from 1 to 5", details={"field": "score"})
    ticket = get_ticket(session, ticket_id)
    if ticket.status not in ("resolved", "closed"):
        raise Conflict("this ticket is not resolved yet")
    first = ticket.csat_score is None
    ticket.csat_score = score
    if first:
        append_event(
            session,
            name=CSAT_EVENT,
            message_id=f"support-csat:{ticket.id}",
            source="support",
            customer_id=ticket.customer_id,
            properties={
                "ticket_id": ticket.external_id or str(ticket.id),
                "score": score,
                "survey": "csat",
                "channel": ticket.channel,
            },
        )
    session.flush()
    return ticket


def answer_csat(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    token: str,
    ticket_id: uuid.UUID,
    score: int,
) -> Ticket:
    """A customer's one-click answer from the survey e-mail: the signed link must be theirs
    and the ticket too (``Unauthenticated`` otherwise, the same answer for every failure)."""
    grant = links.check(
        session, key=links.link_key(store, policy), purpose="preferences", token=token
    )
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.customer_id != grant.customer_id:
        raise Unauthenticated(links.INVALID_LINK)
    return record_csat(session, ticket_id=ticket_id, score=score)


def conversation(
    session: Session,
    store: Store,
    *,
    ticket: Ticket,
    principal: Principal,
    reason: str,
) -> tuple[str | None, list[ConversationLine]]:
    """A ticket's subject and messages in clear, for an agent, through the audited path."""
    messages = list(
        session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket.id)
            .order_by(TicketMessage.created_at, TicketMessage.id)
        )
    )
    with revealing(
        session, store.keystore, principal=principal, subject_type="customer", reason=reason
    ) as opener:
        subject = subject_of(opener, ticket)
        lines = [
            ConversationLine(m.author, m.agent_id, m.created_at, body_of(opener, m))
            for m in messages
        ]
    return subject, lines

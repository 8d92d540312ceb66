"""Support over the API: tickets, agents and the knowledge base for staff
(``support:handle``), and the chat widget's two public calls (a write key, like tracking).

The routes parse, call one service of ``clientvault.support`` and shape the answer. Reading a
ticket's conversation is a POST with the reason in the body: it decrypts personal data
through the audited path, and a reason never belongs in a URL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import get_app_settings, get_store
from clientvault.http.params import RowId
from clientvault.http.site_calls import check_site_call, site_preflight
from clientvault.support import chat, chat_stats, chatbot, kb, tickets
from clientvault.support.agents import AgentProfile, list_agents, set_agent
from clientvault.support.jobs import ticket_sla
from clientvault.support.models import KnowledgeArticle, Ticket

router = APIRouter(prefix="/api/v1/support", tags=["support"])
chat_router = APIRouter(prefix="/v1/chat", tags=["support chat"])
Support = Annotated[Caller, Depends(Authorize("support:handle"))]
Word = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


class TicketCreate(BaseModel):
    """A ticket opened by staff for a customer."""

    model_config = ConfigDict(extra="forbid")
    customer_id: uuid.UUID
    subject: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=tickets.MAX_MESSAGE)
    category: Word | None = None
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")


class SlaRead(BaseModel):
    """One SLA target's state."""

    target: str
    due: datetime
    state: str


class TicketRead(BaseModel):
    """A ticket without its conversation (which needs a reveal)."""

    id: uuid.UUID
    external_id: str | None
    customer_id: uuid.UUID
    status: str
    priority: str
    category: str | None
    language: str | None
    channel: str
    assigned_agent_id: uuid.UUID | None
    assignment_reason: str | None
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    csat_score: int | None
    suggested_category: str | None = Field(
        description="The category the text classifier suggests (never applied by itself)."
    )
    suggestion_confidence: float | None = Field(description="Its probability, 0 to 1.")
    sla: list[SlaRead]


class ReasonBody(BaseModel):
    """Why personal data is being opened."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=200)


class ReplyBody(BaseModel):
    """An agent's answer."""

    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=tickets.MAX_MESSAGE)


class CategoryBody(BaseModel):
    """The agent's category for a ticket (``null`` clears it)."""

    model_config = ConfigDict(extra="forbid")
    category: Word | None


class LineRead(BaseModel):
    """One message of a conversation."""

    author: str
    agent_id: uuid.UUID | None
    created_at: datetime
    body: str


class ConversationRead(BaseModel):
    """A ticket's subject and messages, in clear."""

    subject: str | None
    messages: list[LineRead]


class AgentBody(BaseModel):
    """An agent's profile."""

    model_config = ConfigDict(extra="forbid")
    skills: list[Word] = Field(default_factory=list, max_length=30)
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=list, max_length=10
    )
    capacity: int = Field(default=5, ge=1, le=200)
    start_hour: int = Field(default=9, ge=0, le=23)
    end_hour: int = Field(default=18, ge=1, le=24)
    weekdays: str = Field(default="12345", pattern=r"^[1-7]{1,7}$")
    active: bool = True


class AgentRead(AgentBody):
    """An agent and their staff account's name."""

    user_id: uuid.UUID
    display_name: str


class ArticleBody(BaseModel):
    """A knowledge-base article."""

    model_config = ConfigDict(extra="forbid")
    language: Literal["en", "fr", "de", "es", "it", "nl", "pt"]
    title: str = Field(min_length=1, max_length=200)
    answer: str = Field(min_length=1, max_length=5000)
    phrasings: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list, max_length=50
    )
    category: Word | None = None
    published: bool = True


class ArticleRead(ArticleBody):
    """An article and its id."""

    id: int


def _ticket_read(request: Request, ticket: Ticket) -> TicketRead:
    settings = get_app_settings(request)
    return TicketRead(
        id=ticket.id,
        external_id=ticket.external_id,
        customer_id=ticket.customer_id,
        status=ticket.status,
        priority=ticket.priority,
        category=ticket.category,
        language=ticket.language,
        channel=ticket.channel,
        assigned_agent_id=ticket.assigned_agent_id,
        assignment_reason=ticket.assignment_reason,
        created_at=ticket.created_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        csat_score=ticket.csat_score,
        suggested_category=ticket.suggested_category,
        suggestion_confidence=ticket.suggestion_confidence,
        sla=[
            SlaRead(target=s.target, due=s.due, state=s.state) for s in ticket_sla(settings, ticket)
        ],
    )


@router.get("/tickets", response_model=list[TicketRead])
def list_tickets(
    request: Request,
    caller: Support,
    status: Annotated[Literal["open", "pending", "resolved", "closed"] | None, Query()] = None,
    mine: bool = False,
    queued: bool = False,
    customer_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[TicketRead]:
    """Tickets, newest first: all, the caller's own (``mine``), or those waiting for an agent."""
    with get_store(request).read_sessions() as session, session.begin():
        found = tickets.list_tickets(
            session,
            status=status,
            agent_id=tickets.staff_id(caller.principal) if mine else None,
            customer_id=customer_id,
            queued=queued,
            limit=limit,
            offset=offset,
        )
        return [_ticket_read(request, t) for t in found]


@router.post("/tickets", response_model=TicketRead, status_code=201)
def create_ticket(body: TicketCreate, request: Request, caller: Support) -> TicketRead:
    """Open a ticket for a customer; it is routed at once."""
    store, settings = get_store(request), get_app_settings(request)
    with store.sessions.begin() as session:
        ticket = tickets.open_ticket(
            session,
            store,
            tickets.NewTicket(channel="staff", **body.model_dump()),
            zone=settings.zone,
        )
        return _ticket_read(request, ticket)


@router.get("/tickets/{ticket_id}", response_model=TicketRead)
def read_ticket(ticket_id: uuid.UUID, request: Request, caller: Support) -> TicketRead:
    """One ticket, its assignment and the reason for it, and its SLA targets."""
    with get_store(request).read_sessions() as session, session.begin():
        return _ticket_read(request, tickets.get_ticket(session, ticket_id))


@router.post("/tickets/{ticket_id}/conversation", response_model=ConversationRead)
def read_conversation(
    ticket_id: uuid.UUID, body: ReasonBody, request: Request, caller: Support
) -> ConversationRead:
    """The subject and messages in clear, for a stated reason (audited)."""
    store = get_store(request)
    with store.sessions.begin() as session:
        subject, lines = tickets.conversation(
            session,
            store,
            ticket=tickets.get_ticket(session, ticket_id),
            principal=caller.principal,
            reason=body.reason,
        )
    return ConversationRead(subject=subject, messages=[LineRead(**line.__dict__) for line in lines])


@router.post("/tickets/{ticket_id}/reply", response_model=TicketRead)
def reply(ticket_id: uuid.UUID, body: ReplyBody, request: Request, caller: Support) -> TicketRead:
    """Answer a ticket."""
    store = get_store(request)
    with store.sessions.begin() as session:
        tickets.reply(
            session, store, ticket_id=ticket_id, principal=caller.principal, body=body.body
        )
        return _ticket_read(request, tickets.get_ticket(session, ticket_id))


@router.put("/tickets/{ticket_id}/category", response_model=TicketRead)
def put_category(
    ticket_id: uuid.UUID, body: CategoryBody, request: Request, caller: Support
) -> TicketRead:
    """Set the ticket's category (the suggestion stays beside it)."""
    with get_store(request).sessions.begin() as session:
        return _ticket_read(
            request,
            tickets.set_category(session, ticket_id=ticket_id, category=body.category),
        )


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketRead)
def resolve(ticket_id: uuid.UUID, request: Request, caller: Support) -> TicketRead:
    """Resolve a ticket: the agent gets the next queued one; a CSAT survey may be e-mailed."""
    store, settings = get_store(request), get_app_settings(request)
    with store.sessions.begin() as session:
        tickets.resolve(
            session,
            store,
            ticket_id=ticket_id,
            principal=caller.principal,
            settings=settings,
        )
        return _ticket_read(request, tickets.get_ticket(session, ticket_id))


@router.get("/agents", response_model=list[AgentRead])
def agents(request: Request, caller: Support) -> list[AgentRead]:
    """Every agent with their skills, languages, capacity and hours."""
    with get_store(request).read_sessions() as session, session.begin():
        return [
            AgentRead(
                user_id=agent.user_id,
                display_name=user.display_name,
                skills=agent.skills,
                languages=agent.languages,
                capacity=agent.capacity,
                start_hour=agent.start_hour,
                end_hour=agent.end_hour,
                weekdays=agent.weekdays,
                active=agent.active,
            )
            for agent, user in list_agents(session)
        ]


@router.put("/agents/{user_id}", status_code=204)
def put_agent(user_id: uuid.UUID, body: AgentBody, request: Request, caller: Support) -> None:
    """Make a member of staff an agent, or change their profile."""
    profile = AgentProfile(
        **{**body.model_dump(), "skills": tuple(body.skills), "languages": tuple(body.languages)}
    )
    with get_store(request).sessions.begin() as session:
        set_agent(session, user_id=user_id, profile=profile)


def _article_read(article: KnowledgeArticle) -> ArticleRead:
    return ArticleRead(
        id=article.id,
        language=article.language,
        title=article.title,
        answer=article.answer,
        phrasings=[p for p in article.phrasings.splitlines() if p],
        category=article.category,
        published=article.published,
    )


def _article_input(body: ArticleBody) -> kb.ArticleInput:
    return kb.ArticleInput(**{**body.model_dump(), "phrasings": tuple(body.phrasings)})


@router.get("/articles", response_model=list[ArticleRead])
def articles(
    request: Request,
    caller: Support,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2}$")] = None,
) -> list[ArticleRead]:
    """The knowledge base."""
    with get_store(request).read_sessions() as session, session.begin():
        return [_article_read(a) for a in kb.list_articles(session, language=language)]


@router.post("/articles", response_model=ArticleRead, status_code=201)
def create_article(body: ArticleBody, request: Request, caller: Support) -> ArticleRead:
    """Add an article; the chatbot uses it from the next question."""
    with get_store(request).sessions.begin() as session:
        return _article_read(kb.save_article(session, _article_input(body)))


@router.put("/articles/{article_id}", response_model=ArticleRead)
def update_article(
    article_id: RowId, body: ArticleBody, request: Request, caller: Support
) -> ArticleRead:
    """Replace an article's content."""
    with get_store(request).sessions.begin() as session:
        return _article_read(kb.save_article(session, _article_input(body), article_id=article_id))


@router.delete("/articles/{article_id}", status_code=204)
def delete_article(article_id: RowId, request: Request, caller: Support) -> None:
    """Remove an article."""
    with get_store(request).sessions.begin() as session:
        kb.delete_article(session, article_id)


class ChatStatsRead(BaseModel):
    """The chatbot over the last days."""

    days: int
    asked: int
    answered: int
    handed_over: int
    answer_rate: float
    top_articles: list[tuple[str, int]]
    unanswered: list[tuple[str, int]]


@router.get("/chatbot", response_model=ChatStatsRead)
def chatbot_stats(
    request: Request, caller: Support, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> ChatStatsRead:
    """Questions answered and handed over, the articles that answered most, and the questions
    the knowledge base could not answer (scrubbed)."""
    with get_store(request).read_sessions() as session, session.begin():
        stats = chat_stats.chat_stats(session, days=days)
    return ChatStatsRead(
        days=days,
        asked=stats.asked,
        answered=stats.answered,
        handed_over=stats.handed_over,
        answer_rate=stats.answer_rate,
        top_articles=stats.top_articles,
        unanswered=stats.unanswered,
    )


class ChatQuestion(BaseModel):
    """A visitor's question from the widget."""

    model_config = ConfigDict(extra="forbid")
    writeKey: str = Field(max_length=200)  # noqa: N815 - the snippet's field name
    question: str = Field(min_length=1, max_length=500)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")


class ChatAnswer(BaseModel):
    """The bot's answer, or a hand-over."""

    handover: bool
    title: str | None
    answer: str | None
    reason: str


class ChatLineBody(BaseModel):
    """One line of the conversation the widget sends on hand-over."""

    model_config = ConfigDict(extra="forbid")
    author: Literal["visitor", "bot"]
    text: str = Field(min_length=1, max_length=2000)


class HandoverBody(BaseModel):
    """The widget's request for a human."""

    model_config = ConfigDict(extra="forbid")
    writeKey: str = Field(max_length=200)  # noqa: N815 - the snippet's field name
    anonymousId: str | None = Field(default=None, max_length=200)  # noqa: N815
    email: EmailStr | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    transcript: list[ChatLineBody] = Field(min_length=1, max_length=chat.MAX_TRANSCRIPT)


class HandoverAnswer(BaseModel):
    """What the widget shows: a ticket was opened, or an e-mail is needed first."""

    status: Literal["ticket_opened", "email_needed"]


@chat_router.options("/{call}", include_in_schema=False)
def preflight(call: str, request: Request) -> Response:
    """A browser's CORS preflight for the widget."""
    return site_preflight(request)


@chat_router.post("/ask", response_model=ChatAnswer)
def ask(body: ChatQuestion, request: Request, response: Response) -> ChatAnswer:
    """Answer a visitor's question from the knowledge base, or say a human is needed."""
    check_site_call(request, response, body.writeKey)
    store, settings = get_store(request), get_app_settings(request)
    with store.sessions.begin() as session:
        reply = chatbot.answer(
            session,
            body.question,
            threshold=settings.support.chatbot_threshold,
            language=body.language,
        )
        chat_stats.log_question(
            session,
            store,
            question=body.question,
            reply=reply,
            language=body.language,
            default_region=settings.default_phone_region,
        )
    return ChatAnswer(
        handover=reply.handover, title=reply.title, answer=reply.answer, reason=reply.reason
    )


@chat_router.post("/handover", response_model=HandoverAnswer)
def handover(body: HandoverBody, request: Request, response: Response) -> HandoverAnswer:
    """Hand the conversation over to a human: a ticket with the transcript."""
    check_site_call(request, response, body.writeKey)
    store, settings = get_store(request), get_app_settings(request)
    with store.sessions.begin() as session:
        customer_id, identified_by = chat.identify(
            session,
            store,
            anonymous_id=body.anonymousId,
            email=str(body.email) if body.email else None,
            default_region=settings.default_phone_region,
        )
        if customer_id is None:
            return HandoverAnswer(status="email_needed")
        chat.hand_over(
            session,
            store,
            customer_id=customer_id,
            identified_by=identified_by,
            transcript=[chat.ChatLine(line.author, line.text) for line in body.transcript],
            language=body.language,
            zone=settings.zone,
        )
    return HandoverAnswer(status="ticket_opened")

"""Support in the console (``support:handle``): the agent's queue and all tickets, a ticket
page with the customer card, the conversation (opened with a reason, by POST), reply and
resolve; the knowledge base editor with suggestions; the agents and their skills."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clientvault.errors import ClientVaultError
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.http.params import RowId
from clientvault.support import chat_stats, kb, tickets
from clientvault.support.agents import AgentProfile, is_agent, list_agents, set_agent
from clientvault.support.card import agent_card
from clientvault.support.jobs import ticket_sla
from clientvault.web.customer_panels import domain_panels
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

SUPPORT = f"{CONSOLE_PREFIX}/support"
router = APIRouter(prefix=SUPPORT, include_in_schema=False)
#: The customer's side: the one-click answer to a satisfaction survey (a signed link).
public_router = APIRouter(include_in_schema=False)
Support = Annotated[Caller, Depends(Authorize("support:handle"))]
View = Literal["mine", "queued", "open", "all"]
_NOTICES = {
    "replied": "Your reply was added.",
    "resolved": "The ticket is resolved; the customer may get a satisfaction survey.",
    "saved": "Saved.",
    "deleted": "The article was removed.",
}


def _csrf(caller: Caller) -> str:
    return caller.staff_session.csrf_token if caller.staff_session else ""


@router.get("", response_class=HTMLResponse, name="console_support")
def tickets_page(
    request: Request,
    caller: Support,
    store: StoreDep,
    view: View | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """The caller's queue, the tickets waiting for an agent, open ones or all of them (by
    default the caller's queue if they are an agent, else every open ticket)."""
    size = 50
    with store.read_sessions() as session, session.begin():
        if view is None:
            view = "mine" if is_agent(session, tickets.staff_id(caller.principal)) else "open"
        found = tickets.list_tickets(
            session,
            agent_id=tickets.staff_id(caller.principal) if view == "mine" else None,
            status="open" if view == "open" else None,
            queued=view == "queued",
            limit=size + 1,
            offset=(page - 1) * size,
        )
    return render(
        request,
        "support/tickets.html",
        {
            "title": "Support",
            "tickets": found[:size],
            "more": len(found) > size,
            "page": page,
            "view": view,
            "views": {"mine": "My queue", "queued": "Waiting", "open": "Open", "all": "All"},
        },
    )


def _ticket_page(
    request: Request,
    caller: Caller,
    store: StoreDep,
    settings: SettingsDep,
    ticket_id: uuid.UUID,
    *,
    reason: str | None = None,
    done: str | None = None,
) -> Response:
    with store.sessions.begin() as session:
        ticket = tickets.get_ticket(session, ticket_id)
        card = agent_card(
            session,
            store,
            ticket=ticket,
            viewer=caller.principal,
            reason=reason,
            settings=settings.identity,
        )
        subject, lines = (
            tickets.conversation(
                session, store, ticket=ticket, principal=caller.principal, reason=reason
            )
            if reason
            else (None, None)
        )
        return render(
            request,
            "support/ticket.html",
            {
                "title": "Ticket",
                "ticket": ticket,
                "sla": ticket_sla(settings, ticket),
                "card": card,
                "panels": domain_panels(session, card.view),
                "subject": subject,
                "lines": lines,
                "reason": reason,
                "notice": _NOTICES.get(done or ""),
                "csrf_token": _csrf(caller),
            },
        )


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse, name="console_support_ticket")
def ticket_page(
    ticket_id: uuid.UUID,
    request: Request,
    caller: Support,
    store: StoreDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """A ticket with the customer card masked; the conversation needs a reason."""
    return _ticket_page(request, caller, store, settings, ticket_id, done=done)


@router.post("/tickets/{ticket_id}/open", response_class=HTMLResponse)
def open_conversation(
    ticket_id: uuid.UUID,
    request: Request,
    caller: Support,
    store: StoreDep,
    settings: SettingsDep,
    reason: Annotated[str, Form(min_length=3, max_length=200)],
) -> Response:
    """The same page with the conversation and the customer's identifiers, for a reason
    given in the form body (audited), never in the URL."""
    return _ticket_page(request, caller, store, settings, ticket_id, reason=reason)


@router.post("/tickets/{ticket_id}/reply")
def reply(
    ticket_id: uuid.UUID,
    caller: Support,
    store: StoreDep,
    body: Annotated[str, Form(min_length=1, max_length=tickets.MAX_MESSAGE)],
) -> RedirectResponse:
    """Add the agent's answer, then back to the ticket."""
    with store.sessions.begin() as session:
        tickets.reply(session, store, ticket_id=ticket_id, principal=caller.principal, body=body)
    return RedirectResponse(f"{SUPPORT}/tickets/{ticket_id}?done=replied", status_code=303)


@router.post("/tickets/{ticket_id}/category")
def set_category(
    ticket_id: uuid.UUID,
    caller: Support,
    store: StoreDep,
    category: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    """Set the ticket's category (empty clears it), then back to the ticket."""
    with store.sessions.begin() as session:
        tickets.set_category(
            session, ticket_id=ticket_id, category=category.strip().lower() or None
        )
    return RedirectResponse(f"{SUPPORT}/tickets/{ticket_id}?done=saved", status_code=303)


@router.post("/tickets/{ticket_id}/resolve")
def resolve(
    ticket_id: uuid.UUID, caller: Support, store: StoreDep, settings: SettingsDep
) -> RedirectResponse:
    """Resolve the ticket, then back to it."""
    with store.sessions.begin() as session:
        tickets.resolve(
            session,
            store,
            ticket_id=ticket_id,
            principal=caller.principal,
            settings=settings,
        )
    return RedirectResponse(f"{SUPPORT}/tickets/{ticket_id}?done=resolved", status_code=303)


@router.get("/knowledge", response_class=HTMLResponse, name="console_support_knowledge")
def knowledge_page(
    request: Request,
    caller: Support,
    store: StoreDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The knowledge base, the chatbot's figures (answered, handed over, unanswered
    questions), a form to add an article, and the topics it lacks."""
    with store.read_sessions() as session, session.begin():
        articles = kb.list_articles(session)
        suggested = kb.suggestions(session)
        stats = chat_stats.chat_stats(session)
    return render(
        request,
        "support/knowledge.html",
        {
            "title": "Knowledge base",
            "articles": articles,
            "suggestions": suggested,
            "stats": stats,
            "languages": kb.LANGUAGES,
            "notice": _NOTICES.get(done or ""),
            "csrf_token": _csrf(caller),
        },
    )


@router.post("/knowledge")
def add_article(
    caller: Support,
    store: StoreDep,
    language: Annotated[str, Form(max_length=8)],
    title: Annotated[str, Form(min_length=1, max_length=200)],
    answer: Annotated[str, Form(min_length=1, max_length=5000)],
    phrasings: Annotated[str, Form(max_length=15_000)] = "",
    category: Annotated[str | None, Form(pattern=r"^[a-z][a-z0-9_-]{0,63}$")] = None,
) -> RedirectResponse:
    """Add an article (one phrasing per line)."""
    with store.sessions.begin() as session:
        kb.save_article(
            session,
            kb.ArticleInput(
                language, title, answer, tuple(phrasings.splitlines()), category=category or None
            ),
        )
    return RedirectResponse(f"{SUPPORT}/knowledge?done=saved", status_code=303)


@router.post("/knowledge/{article_id}/delete")
def remove_article(article_id: RowId, caller: Support, store: StoreDep) -> RedirectResponse:
    """Remove an article."""
    with store.sessions.begin() as session:
        kb.delete_article(session, article_id)
    return RedirectResponse(f"{SUPPORT}/knowledge?done=deleted", status_code=303)


@router.get("/agents", response_class=HTMLResponse, name="console_support_agents")
def agents_page(
    request: Request,
    caller: Support,
    store: StoreDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The agents, their skills, languages, capacity and hours."""
    with store.read_sessions() as session, session.begin():
        agents = list_agents(session)
    return render(
        request,
        "support/agents.html",
        {
            "title": "Agents",
            "agents": agents,
            "notice": _NOTICES.get(done or ""),
            "csrf_token": _csrf(caller),
        },
    )


@router.post("/agents/{user_id}")
def save_agent(
    user_id: uuid.UUID,
    caller: Support,
    store: StoreDep,
    skills: Annotated[str, Form(max_length=500)] = "",
    languages: Annotated[str, Form(max_length=100)] = "",
    capacity: Annotated[int, Form(ge=1, le=200)] = 5,
    start_hour: Annotated[int, Form(ge=0, le=23)] = 9,
    end_hour: Annotated[int, Form(ge=1, le=24)] = 18,
    weekdays: Annotated[str, Form(pattern=r"^[1-7]{1,7}$")] = "12345",
    active: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Change an agent's profile (skills and languages comma-separated)."""
    profile = AgentProfile(
        skills=tuple(s for s in skills.split(",")),
        languages=tuple(s for s in languages.split(",")),
        capacity=capacity,
        start_hour=start_hour,
        end_hour=end_hour,
        weekdays=weekdays,
        active=active,
    )
    with store.sessions.begin() as session:
        set_agent(session, user_id=user_id, profile=profile)
    return RedirectResponse(f"{SUPPORT}/agents?done=saved", status_code=303)


@public_router.get(tickets.CSAT_PATH, response_class=HTMLResponse, name="support_csat")
def csat_answer(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    token: Annotated[str, Query(min_length=10, max_length=200)],
    ticket: uuid.UUID,
    score: Annotated[int, Query(ge=1, le=5)],
) -> Response:
    """Record the score the customer clicked in the survey e-mail and thank them; an
    invalid or expired link gets a page saying so, never an error body."""
    try:
        with store.sessions.begin() as session:
            tickets.answer_csat(
                session, store, policy=settings.privacy, token=token, ticket_id=ticket, score=score
            )
    except ClientVaultError:
        return render(
            request,
            "preferences/problem.html",
            {
                "title": "This link does not work",
                "message": "This survey link is not valid any more.",
                "offer_link": False,
            },
            status_code=400,
        )
    return render(request, "support/csat.html", {"title": "Thank you", "score": score})

"""Support's console pages for an agent: queue, ticket with the customer card masked until a
reason is given in a POST body, reply and resolve, knowledge base, agents."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.demo.support import kb_articles
from clientvault.security.models import User
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.support import kb, tickets
from clientvault.support.agents import AgentProfile, set_agent
from support.privacy_core import make_customers, person, prepare
from support.staff import STRONG, api_sign_in, create_staff


def test_an_agent_works_a_ticket_in_the_console(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    prepare(db)
    [customer] = make_customers(db, person(7))
    with db.sessions.begin() as session:
        user = create_staff(
            session, db_settings, email="agent@example.com", role="support", password=STRONG
        ).user
        user.must_change_password = False
        set_agent(
            session,
            user_id=user.id,
            profile=AgentProfile(
                skills=("delivery",), start_hour=0, end_hour=24, weekdays="1234567"
            ),
        )
        kb.seed_articles(session, kb_articles())
        ticket = tickets.open_ticket(
            session,
            db,
            tickets.NewTicket(
                customer_id=customer, subject="Late", message="Where is it?", category="delivery"
            ),
            zone=db_settings.zone,
        )
        ticket_id = ticket.id
    csrf = api_sign_in(client, "agent@example.com")["x-csrf-token"]

    queue = client.get("/console/support")
    assert queue.status_code == 200
    assert f'data-ticket="{ticket_id}"' in queue.text
    assert 'href="/console/support"' in queue.text  # in the navigation

    page = client.get(f"/console/support/tickets/{ticket_id}")
    assert page.status_code == 200
    assert "Where is it?" not in page.text
    assert "person.7@example.com" not in page.text  # masked customer card
    assert 'data-suggestion=""' in page.text  # no model trained: no suggestion
    # The card shows what the other domains know: segments and recommendations (or why none).
    assert "In no segment." in page.text
    assert "Nothing recommended: the customer has not consented to personalisation" in page.text
    categorised = client.post(
        f"/console/support/tickets/{ticket_id}/category",
        data={"category": "returns", "csrf_token": csrf},
    )
    assert "returns ·" in categorised.text
    opened = client.post(
        f"/console/support/tickets/{ticket_id}/open",
        data={"reason": "answering the ticket", "csrf_token": csrf},
    )
    assert opened.status_code == 200
    assert "Where is it?" in opened.text
    assert "person.7@example.com" in opened.text
    assert "answering" not in str(opened.url)

    replied = client.post(
        f"/console/support/tickets/{ticket_id}/reply",
        data={"body": "On its way", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert replied.status_code == 303
    resolved = client.post(
        f"/console/support/tickets/{ticket_id}/resolve", data={"csrf_token": csrf}
    )
    assert "The ticket is resolved" in resolved.text
    assert urlsplit(str(resolved.url)).path == f"/console/support/tickets/{ticket_id}"

    knowledge = client.get("/console/support/knowledge")
    assert "Comment suivre ma commande ?" in knowledge.text
    added = client.post(
        "/console/support/knowledge",
        data={"language": "en", "title": "Open on Sunday?", "answer": "No.", "csrf_token": csrf},
    )
    assert "Open on Sunday?" in added.text
    agents = client.get("/console/support/agents")
    with db.sessions() as session:
        agent_id = session.scalar(select(User.id).where(User.email == "agent@example.com"))
    assert f"/console/support/agents/{agent_id}" in agents.text

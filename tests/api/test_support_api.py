"""Support over HTTP: staff manage agents, articles and tickets (the conversation opened by a
POST with a reason, audited); the public chat calls answer from the knowledge base, hand over
with the transcript, and honour the write key's origins."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clientvault.demo.support import kb_articles
from clientvault.ingest.sources import change_origins
from clientvault.security.models import AuditEntry, User
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.support import kb, tickets
from clientvault.support.models import Ticket
from support.privacy_core import make_customers, person, prepare
from support.staff import bearer_headers

ALWAYS = {"start_hour": 0, "end_hour": 24, "weekdays": "1234567"}


def test_staff_run_a_ticket_from_opening_to_resolution(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    prepare(db)
    [customer] = make_customers(db, person(1))
    headers = bearer_headers(db, db_settings, "support")
    with db.sessions() as session:
        agent_id = session.scalar(select(User.id).where(User.email == "support@example.com"))
    put = client.put(
        f"/api/v1/support/agents/{agent_id}",
        json={"skills": ["billing"], "languages": ["fr"], "capacity": 3, **ALWAYS},
        headers=headers,
    )
    assert put.status_code == 204, put.text
    assert client.get("/api/v1/support/agents", headers=headers).json()[0]["skills"] == ["billing"]

    created = client.post(
        "/api/v1/support/tickets",
        json={
            "customer_id": str(customer),
            "subject": "Bill",
            "message": "Wrong amount",
            "category": "billing",
            "priority": "high",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["assigned_agent_id"] == str(agent_id)
    assert {s["target"] for s in ticket["sla"]} == {"first_response", "resolution"}
    assert "Wrong amount" not in created.text  # the conversation needs a reveal
    assert (ticket["suggested_category"], ticket["suggestion_confidence"]) == (None, None)

    path = f"/api/v1/support/tickets/{ticket['id']}"
    recategorised = client.put(f"{path}/category", json={"category": "refunds"}, headers=headers)
    assert recategorised.json()["category"] == "refunds"
    refused = client.put(f"{path}/category", json={"category": "Not a word"}, headers=headers)
    assert refused.status_code == 422
    opened = client.post(f"{path}/conversation", json={"reason": "answering"}, headers=headers)
    assert opened.json()["messages"][0]["body"] == "Wrong amount"
    with db.sessions() as session:
        assert session.scalar(
            select(func.count()).where(
                AuditEntry.action == "pii.reveal", AuditEntry.reason == "answering"
            )
        )
    assert (
        client.post(f"{path}/reply", json={"body": "Fixed"}, headers=headers).json()["status"]
        == "pending"
    )
    resolved = client.post(f"{path}/resolve", headers=headers)
    assert resolved.json()["status"] == "resolved"
    assert client.post(f"{path}/resolve", headers=headers).status_code == 409
    mine = client.get("/api/v1/support/tickets?mine=true", headers=headers).json()
    assert [t["id"] for t in mine] == [ticket["id"]]
    # A customer's tickets, as the 360° page lists them, with status and CSAT.
    theirs = client.get(f"/api/v1/support/tickets?customer_id={customer}", headers=headers)
    assert [(t["id"], t["status"], t["csat_score"]) for t in theirs.json()] == [
        (ticket["id"], "resolved", None)
    ]
    nobody = client.get(f"/api/v1/support/tickets?customer_id={agent_id}", headers=headers)
    assert nobody.json() == []


def test_bad_input_and_other_roles_are_refused(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    prepare(db)
    headers = bearer_headers(db, db_settings, "support")
    bad = client.post(
        "/api/v1/support/tickets",
        json={"customer_id": str(uuid.uuid4()), "priority": "whenever"},
        headers=headers,
    )
    assert bad.status_code == 422
    missing = client.post(
        "/api/v1/support/tickets", json={"customer_id": str(uuid.uuid4())}, headers=headers
    )
    assert missing.status_code == 404
    # Attachments are refused (no file is ever stored with a ticket) and text is capped.
    customer = str(uuid.uuid4())
    attached = client.post(
        "/api/v1/support/tickets",
        json={"customer_id": customer, "message": "see file", "attachments": ["a.pdf"]},
        headers=headers,
    )
    assert attached.status_code == 422
    huge = client.post(
        "/api/v1/support/tickets",
        json={"customer_id": customer, "message": "x" * (tickets.MAX_MESSAGE + 1)},
        headers=headers,
    )
    assert huge.status_code == 422
    marketer = bearer_headers(db, db_settings, "marketer")
    assert client.get("/api/v1/support/tickets", headers=marketer).status_code == 403


def test_articles_are_managed_and_answer_the_chat(
    client: TestClient, db: Store, db_settings: Settings, write_key: str
) -> None:
    headers = bearer_headers(db, db_settings, "support")
    made = client.post(
        "/api/v1/support/articles",
        json={
            "language": "en",
            "title": "Do you ship to Canada?",
            "answer": "Yes, in 7 days.",
            "phrasings": ["delivery to Canada"],
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    asked = client.post(
        "/v1/chat/ask", json={"writeKey": write_key, "question": "can you ship to canada"}
    )
    assert asked.json()["answer"] == "Yes, in 7 days."
    assert not asked.json()["handover"]
    refused = client.post("/v1/chat/ask", json={"writeKey": "cvwk_nope", "question": "hi"})
    assert refused.status_code == 401
    assert (
        client.delete(f"/api/v1/support/articles/{made.json()['id']}", headers=headers).status_code
        == 204
    )
    gone = client.post("/v1/chat/ask", json={"writeKey": write_key, "question": "ship to canada"})
    assert gone.json()["handover"]


def test_a_hand_over_asks_for_an_e_mail_then_opens_a_ticket_with_the_transcript(
    client: TestClient, db: Store, db_settings: Settings, write_key: str
) -> None:
    prepare(db)
    with db.sessions.begin() as session:
        kb.seed_articles(session, kb_articles())
    transcript = [
        {"author": "visitor", "text": "my parcel is lost"},
        {"author": "bot", "text": "I'm passing you to a person."},
    ]
    first = client.post(
        "/v1/chat/handover",
        json={"writeKey": write_key, "anonymousId": "anon-unknown", "transcript": transcript},
    )
    assert first.json() == {"status": "email_needed"}
    second = client.post(
        "/v1/chat/handover",
        json={"writeKey": write_key, "email": "chat.visitor@example.com", "transcript": transcript},
    )
    assert second.json() == {"status": "ticket_opened"}
    assert "example.com" not in second.text
    with db.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
    assert ticket.channel == "chat"
    assert "not verified" in ticket.details["identified_by"]
    headers = bearer_headers(db, db_settings, "support")
    lines = client.post(
        f"/api/v1/support/tickets/{ticket.id}/conversation",
        json={"reason": "chat"},
        headers=headers,
    ).json()["messages"]
    assert [(m["author"], m["body"]) for m in lines] == [
        ("customer", "my parcel is lost"),
        ("bot", "I'm passing you to a person."),
    ]


def test_the_widget_is_served_and_its_calls_honour_the_sources_origins(
    client: TestClient, db: Store, write_key: str
) -> None:
    widget = client.get("/chat.js")
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("application/javascript")
    assert "eval(" not in widget.text
    with db.sessions.begin() as session:
        change_origins(session, name="website", add=["https://shop.example"])
    preflight = client.options(
        "/v1/chat/ask",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    body = {"writeKey": write_key, "question": "hello"}
    allowed = client.post("/v1/chat/ask", json=body, headers={"Origin": "https://shop.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    other = client.post("/v1/chat/ask", json=body, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403


def test_a_bad_survey_link_gets_a_page_not_an_error_body(client: TestClient) -> None:
    answer = client.get(f"/support/csat?token={'x' * 20}&ticket={uuid.uuid4()}&score=5")
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "This survey link is not valid any more" in answer.text


def test_chatbot_analytics_count_questions_and_keep_unanswered_ones_scrubbed(
    client: TestClient, db: Store, db_settings: Settings, write_key: str
) -> None:
    with db.sessions.begin() as session:
        kb.seed_articles(session, kb_articles())
    for question in (
        "how do I return an item",
        "do you sell electric bikes? write to jo.doe@example.com",
        "I want to talk to a human",
    ):
        client.post("/v1/chat/ask", json={"writeKey": write_key, "question": question})
    stats = client.get(
        "/api/v1/support/chatbot", headers=bearer_headers(db, db_settings, "support")
    ).json()
    assert (stats["asked"], stats["answered"], stats["handed_over"]) == (3, 1, 2)
    assert stats["top_articles"] == [["How do I return an item?", 1]]
    [(text, count)] = stats["unanswered"]  # asking for a person is not a knowledge gap
    assert count == 1
    assert "electric bikes" in text
    assert "jo.doe" not in text

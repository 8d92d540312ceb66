"""Support: the chatbot's answer latency on a 5,000-article knowledge base, and the routing
decision time with 100,000 open tickets.

Chatbot. ``chatbot.answer`` (knowledge-base version check in the database, vectorising the
question, one sparse product, the hand-over rule) for the held-out questions of the tests,
p50 and p99 after the index is built. Baseline: the vectorising and the sparse product alone,
on the same fitted index, without the database.

Routing. ``tickets.route`` of a new ticket (the customer's previous agent, the agents' loads
counted over the partial index of assigned open tickets, each agent's latest assignment
looked up, then the choice) among 200 agents of capacity 50, with 100,000 open tickets (the
agents hold 60 to 98 % of their capacity, the rest wait in the queue) and 100,000 closed
ones, p50/p99 over 100 rounds (each rolled back); and the agents' state alone
(``tickets.agent_states``). Baseline, in the same run: the grouped count of every open
ticket per agent, which grows with the open tickets rather than with the agents.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

import numpy as np
from scipy.sparse import hstack
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from _common import backends, fresh_installation
from clientvault.demo.support import kb_articles
from clientvault.identity.models import Customer
from clientvault.security.models import User
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.support import chatbot, kb, tickets
from clientvault.support.models import OPEN_STATUSES, SupportAgent, Ticket
from support.chat_questions import QUESTIONS

WORDS = [
    "shoes",
    "jacket",
    "lamp",
    "sofa",
    "watch",
    "bag",
    "dress",
    "phone",
    "desk",
    "chair",
    "scarf",
    "boots",
    "tent",
    "bike",
]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def _articles(count: int) -> list[kb.ArticleInput]:
    base = kb_articles()
    rng = random.Random(7)
    out = list(base)
    while len(out) < count:
        a = rng.choice(base)
        word = rng.choice(WORDS)
        out.append(
            kb.ArticleInput(
                a.language,
                f"{a.title} ({word} #{len(out)})",
                f"{a.answer} For {word}s, see the product page.",
                tuple(f"{p} {word}" for p in a.phrasings),
                category=a.category,
            )
        )
    return out


def bench_chatbot(backend: str, articles: int) -> None:
    with fresh_installation(backend) as store:
        with store.sessions.begin() as session:
            kb.seed_articles(session, _articles(articles))
        questions = [q for _, q, _ in QUESTIONS]
        ours: list[float] = []
        with store.read_sessions() as session:
            chatbot.answer(session, "warm up", threshold=0.25)
            for question in questions * 3:
                start = time.perf_counter()
                chatbot.answer(session, question, threshold=0.25)
                ours.append(time.perf_counter() - start)
            index = chatbot._index(session)  # the same fitted index, for the baseline
        assert index is not None
        base: list[float] = []
        for question in questions * 3:
            start = time.perf_counter()
            folded = chatbot.fold(question)
            query = hstack([index.words.transform([folded]), index.chars.transform([folded])])
            int(np.argmax((index.matrix @ query.T).toarray()))  # type: ignore[operator]
            base.append(time.perf_counter() - start)
        o50, o99 = _percentiles(ours)
        b50, b99 = _percentiles(base)
        print(
            f"chatbot_answer[{backend}, {articles} articles]: "
            f"ours p50 {o50:.2f} ms p99 {o99:.2f} ms, "
            f"baseline p50 {b50:.2f} ms p99 {b99:.2f} ms, ratio p50 {o50 / b50:.2f}",
            flush=True,
        )


def _routing_installation(
    store: Store, *, open_tickets: int, agents: int, capacity: int, closed: int
) -> list[uuid.UUID]:
    """200 agents holding 60 to 98 % of their capacity, the rest of the open tickets queued,
    and a history of closed tickets; returns the customers' ids."""
    now = utcnow()
    rng = random.Random(3)
    customer_ids = [uuid.uuid4() for _ in range(1000)]
    agent_ids = [uuid.uuid4() for _ in range(agents)]
    with store.sessions.begin() as session:
        session.execute(
            insert(Customer),
            [
                {"id": c, "status": "active", "created_at": now, "updated_at": now, "traits": {}}
                for c in customer_ids
            ],
        )
        session.execute(
            insert(User),
            [
                {
                    "id": a,
                    "email": f"agent{i}@example.com",
                    "display_name": f"Agent {i}",
                    "role": "support",
                    "must_change_password": False,
                    "is_active": True,
                    "created_at": now,
                }
                for i, a in enumerate(agent_ids)
            ],
        )
        session.execute(
            insert(SupportAgent),
            [
                {
                    "user_id": a,
                    "skills": ["billing", "delivery"][i % 2 :],
                    "languages": ["en", "fr"],
                    "capacity": capacity,
                    "start_hour": 0,
                    "end_hour": 24,
                    "weekdays": "1234567",
                    "active": True,
                }
                for i, a in enumerate(agent_ids)
            ],
        )
        holders = [
            a for a in agent_ids for _ in range(rng.randint(capacity * 6 // 10, capacity - 1))
        ][:open_tickets]
        queued = open_tickets - len(holders)

        def row(status: str, agent: uuid.UUID | None, at: datetime) -> dict[str, object]:
            return {
                "id": uuid.uuid4(),
                "customer_id": rng.choice(customer_ids),
                "status": status,
                "priority": "normal",
                "category": rng.choice(["billing", "delivery"]),
                "channel": "bench",
                "assigned_agent_id": agent,
                "assigned_at": at if agent else None,
                "resolved_at": at if status == "closed" else None,
                "created_at": at,
                "details": {},
            }

        past = now - timedelta(days=30)
        rows = (
            [row("open", a, now - timedelta(seconds=rng.randint(0, 86_400))) for a in holders]
            + [row("open", None, now) for _ in range(queued)]
            + [row("closed", rng.choice(agent_ids), past) for _ in range(closed)]
        )
        for start in range(0, len(rows), 5000):
            session.execute(insert(Ticket), rows[start : start + 5000])
    with store.engine.begin() as connection:  # statistics, as autovacuum would gather
        connection.execute(text("ANALYZE"))
    return customer_ids


def _grouped_loads(session: Session) -> None:
    """The baseline: the grouped count of every open ticket per agent (queued ones included),
    what a load-aware router without an index of the assigned open tickets reads."""
    session.execute(
        select(Ticket.assigned_agent_id, func.count())
        .where(Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.assigned_agent_id)
    ).all()


def bench_routing(
    backend: str, open_tickets: int, agents: int, capacity: int, closed: int, rounds: int
) -> None:
    with fresh_installation(backend) as store:
        customer_ids = _routing_installation(
            store, open_tickets=open_tickets, agents=agents, capacity=capacity, closed=closed
        )
        zone, now = ZoneInfo("UTC"), utcnow()
        with store.sessions() as session:
            queued = session.scalar(
                select(func.count()).where(
                    Ticket.status == "open", Ticket.assigned_agent_id.is_(None)
                )
            )
        route: list[float] = []
        loads: list[float] = []
        base: list[float] = []
        for n in range(rounds):
            with store.sessions() as session:  # rolled back: every round sees the same data
                ticket = Ticket(
                    customer_id=customer_ids[n % len(customer_ids)],
                    category="billing",
                    language="fr",
                    channel="bench",
                    details={},
                    created_at=now,
                )
                session.add(ticket)
                session.flush()
                start = time.perf_counter()
                decision = tickets.route(session, ticket, zone=zone, now=now)
                route.append(time.perf_counter() - start)
                assert decision.agent_id is not None, decision.reason
                start = time.perf_counter()
                tickets.agent_states(session, zone=zone, now=now)
                loads.append(time.perf_counter() - start)
                start = time.perf_counter()
                _grouped_loads(session)
                base.append(time.perf_counter() - start)
                session.rollback()
        label = (
            f"{backend}, {open_tickets:,} open ({queued:,} queued), {closed:,} closed, "
            f"{agents} agents of capacity {capacity}"
        )
        b50, b99 = _percentiles(base)
        for name, samples in (("routing_decision", route), ("agent_loads", loads)):
            o50, o99 = _percentiles(samples)
            print(
                f"{name}[{label}]: ours p50 {o50:.2f} ms p99 {o99:.2f} ms, "
                f"baseline (grouped counts) p50 {b50:.2f} ms p99 {b99:.2f} ms, "
                f"ratio p50 {o50 / b50:.3f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--open-tickets", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--capacity", type=int, default=50)
    parser.add_argument("--closed-tickets", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--only", choices=["chatbot", "routing"])
    args = parser.parse_args()
    for backend in backends():
        if args.only != "routing":
            bench_chatbot(backend, args.articles)
        if args.only != "chatbot":
            bench_routing(
                backend,
                args.open_tickets,
                args.agents,
                args.capacity,
                args.closed_tickets,
                args.rounds,
            )


if __name__ == "__main__":
    main()

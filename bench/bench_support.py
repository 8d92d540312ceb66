"""Support: the chatbot's answer latency on a 5,000-article knowledge base, and the routing
decision time with 100,000 open tickets.

Chatbot. ``chatbot.answer`` (knowledge-base version check in the database, vectorising the
question, one sparse product, the hand-over rule) for the held-out questions of the tests,
p50 and p99 after the index is built. Baseline: the vectorising and the sparse product alone,
on the same fitted index, without the database.

Routing. ``tickets.route`` of a new ticket (the agents' loads and last assignments read in
two grouped queries, then the choice) among 200 agents with 100,000 open tickets, p50/p99.
Baseline: the one grouped count of open tickets per agent that any load-aware router must run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

import numpy as np
from scipy.sparse import hstack
from sqlalchemy import func, insert, select

from _common import backends, fresh_installation
from clientvault.demo.support import kb_articles
from clientvault.identity.models import Customer
from clientvault.security.models import User
from clientvault.store.base import utcnow
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


def bench_routing(backend: str, open_tickets: int, agents: int) -> None:
    with fresh_installation(backend) as store:
        now = utcnow()
        customer_ids = [uuid.uuid4() for _ in range(1000)]
        agent_ids = [uuid.uuid4() for _ in range(agents)]
        with store.sessions.begin() as session:
            session.execute(
                insert(Customer),
                [
                    {
                        "id": c,
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                        "traits": {},
                    }
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
                        "capacity": 1000,
                        "start_hour": 0,
                        "end_hour": 24,
                        "weekdays": "1234567",
                        "active": True,
                    }
                    for i, a in enumerate(agent_ids)
                ],
            )
            rng = random.Random(3)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "customer_id": rng.choice(customer_ids),
                    "status": "open",
                    "priority": "normal",
                    "category": rng.choice(["billing", "delivery"]),
                    "channel": "bench",
                    "assigned_agent_id": rng.choice(agent_ids),
                    "assigned_at": now,
                    "created_at": now,
                    "details": {},
                }
                for _ in range(open_tickets)
            ]
            for start in range(0, len(rows), 5000):
                session.execute(insert(Ticket), rows[start : start + 5000])
        ours: list[float] = []
        base: list[float] = []
        zone = ZoneInfo("UTC")
        for n in range(60):
            with store.sessions.begin() as session:
                ticket = Ticket(
                    customer_id=customer_ids[n],
                    category="billing",
                    language="fr",
                    channel="bench",
                    details={},
                    created_at=now,
                )
                session.add(ticket)
                session.flush()
                start = time.perf_counter()
                tickets.route(session, ticket, zone=zone, now=now)
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                session.execute(
                    select(Ticket.assigned_agent_id, func.count())
                    .where(Ticket.status.in_(OPEN_STATUSES))
                    .group_by(Ticket.assigned_agent_id)
                ).all()
                base.append(time.perf_counter() - start)
        o50, o99 = _percentiles(ours)
        b50, b99 = _percentiles(base)
        print(
            f"routing_decision[{backend}, {open_tickets} open, {agents} agents]: ours p50 "
            f"{o50:.1f} ms p99 {o99:.1f} ms, baseline p50 {b50:.1f} ms p99 {b99:.1f} ms, "
            f"ratio p50 {o50 / b50:.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--open-tickets", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args()
    for backend in backends():
        bench_chatbot(backend, args.articles)
        bench_routing(backend, args.open_tickets, args.agents)


if __name__ == "__main__":
    main()

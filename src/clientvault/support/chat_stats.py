"""The chatbot's analytics: how many questions it answered and handed over, which articles
answered most, and the questions it could not answer (what the knowledge base should add).

Questions from the widget are anonymous; the few kept in clear (the unanswered ones) are
scrubbed like event properties (``ingest.scrub``) and purged after ``chat_log_days``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from clientvault.ingest.scrub import Scrubber, keyed_hasher
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.support.chatbot import Reply
from clientvault.support.models import ChatQuestion, KnowledgeArticle


def log_question(
    session: Session,
    store: Store,
    *,
    question: str,
    reply: Reply,
    language: str | None,
    default_region: str,
) -> None:
    """Count one question; keep its scrubbed text only if the bot could not answer it."""
    text = None
    if reply.handover and reply.reason == "no article is close enough to the question":
        scrubber = Scrubber(
            keyed_hasher(store.keystore.material.index_key), default_region=default_region
        )
        text = str(scrubber.scrub(question.strip()))[:500]
    session.add(
        ChatQuestion(
            language=language,
            handed_over=reply.handover,
            article_id=reply.article_id,
            confidence=reply.confidence,
            unanswered_text=text,
        )
    )


@dataclass(frozen=True)
class ChatStats:
    """The chatbot over a period."""

    since: datetime
    asked: int
    answered: int
    handed_over: int
    top_articles: list[tuple[str, int]]
    unanswered: list[tuple[str, int]]

    @property
    def answer_rate(self) -> float:
        """Share of questions answered without a person."""
        return self.answered / self.asked if self.asked else 0.0


def chat_stats(session: Session, *, days: int = 30, top: int = 10) -> ChatStats:
    """The chatbot's figures over the last ``days`` days."""
    since = utcnow() - timedelta(days=days)
    recent = ChatQuestion.asked_at >= since
    asked, handed = session.execute(
        select(func.count(), func.count().filter(ChatQuestion.handed_over.is_(True))).where(recent)
    ).one()
    articles = [
        (str(title), int(count))
        for title, count in session.execute(
            select(KnowledgeArticle.title, func.count())
            .join(ChatQuestion, ChatQuestion.article_id == KnowledgeArticle.id)
            .where(recent, ChatQuestion.handed_over.is_(False))
            .group_by(KnowledgeArticle.title)
            .order_by(func.count().desc())
            .limit(top)
        )
    ]
    texts = Counter(
        " ".join(text.lower().split())
        for text in session.scalars(
            select(ChatQuestion.unanswered_text).where(
                recent, ChatQuestion.unanswered_text.is_not(None)
            )
        )
        if text
    )
    return ChatStats(
        since, int(asked), int(asked) - int(handed), int(handed), articles, texts.most_common(top)
    )


def purge_chat_log(session: Session, *, days: int) -> int:
    """Delete logged questions older than ``days``; returns how many."""
    cutoff = utcnow() - timedelta(days=days)
    result = session.execute(delete(ChatQuestion).where(ChatQuestion.asked_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]

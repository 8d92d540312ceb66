"""The knowledge base the chatbot answers from: articles in several languages, edited in the
console, and suggestions of missing ones drawn from resolved tickets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound
from clientvault.support.models import KnowledgeArticle, Ticket

LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pt")


@dataclass(frozen=True)
class ArticleInput:
    """An article as an editor writes it."""

    language: str
    title: str
    answer: str
    phrasings: tuple[str, ...] = ()
    category: str | None = None
    published: bool = True


def _validated(data: ArticleInput) -> ArticleInput:
    if data.language not in LANGUAGES:
        raise InvalidInput(
            f"language must be one of {', '.join(LANGUAGES)}", details={"field": "language"}
        )
    if not data.title.strip() or len(data.title) > 200:
        raise InvalidInput("a title of 1 to 200 characters", details={"field": "title"})
    if not data.answer.strip() or len(data.answer) > 5000:
        raise InvalidInput("an answer of 1 to 5,000 characters", details={"field": "answer"})
    if len(data.phrasings) > 50 or any(len(p) > 300 for p in data.phrasings):
        raise InvalidInput("at most 50 phrasings of 300 characters", details={"field": "phrasings"})
    return data


def save_article(
    session: Session, data: ArticleInput, *, article_id: int | None = None
) -> KnowledgeArticle:
    """Create an article, or replace one's content."""
    data = _validated(data)
    article = KnowledgeArticle() if article_id is None else get_article(session, article_id)
    article.language = data.language
    article.title = data.title.strip()
    article.answer = data.answer.strip()
    article.phrasings = "\n".join(p.strip() for p in data.phrasings if p.strip())
    article.category = data.category
    article.published = data.published
    session.add(article)
    session.flush()
    return article


def get_article(session: Session, article_id: int) -> KnowledgeArticle:
    """One article, or ``NotFound``."""
    article = session.get(KnowledgeArticle, article_id)
    if article is None:
        raise NotFound("no such article")
    return article


def delete_article(session: Session, article_id: int) -> None:
    """Remove an article from the knowledge base."""
    session.delete(get_article(session, article_id))


def list_articles(session: Session, *, language: str | None = None) -> list[KnowledgeArticle]:
    """Articles by language and title."""
    query = select(KnowledgeArticle)
    if language is not None:
        query = query.where(KnowledgeArticle.language == language)
    return list(session.scalars(query.order_by(KnowledgeArticle.language, KnowledgeArticle.title)))


def seed_articles(session: Session, articles: Iterable[ArticleInput]) -> int:
    """Add articles whose (language, title) is not there yet; returns how many were added."""
    present = {
        (language, title)
        for language, title in session.execute(
            select(KnowledgeArticle.language, KnowledgeArticle.title)
        )
    }
    added = 0
    for data in articles:
        if (data.language, data.title) not in present:
            save_article(session, data)
            added += 1
    return added


@dataclass(frozen=True)
class Suggestion:
    """A ticket category that comes up often and that no published article covers."""

    category: str
    resolved_tickets: int


def suggestions(session: Session, *, minimum: int = 5) -> list[Suggestion]:
    """Categories of resolved tickets, most frequent first, with no published article of that
    category: what the knowledge base should answer next. Read from categories, never from
    the conversations, so suggesting reads no personal data."""
    covered = set(
        session.scalars(
            select(KnowledgeArticle.category).where(
                KnowledgeArticle.published.is_(True), KnowledgeArticle.category.is_not(None)
            )
        )
    )
    rows = session.execute(
        select(Ticket.category, func.count())
        .where(Ticket.status.in_(("resolved", "closed")), Ticket.category.is_not(None))
        .group_by(Ticket.category)
        .order_by(func.count().desc())
    )
    return [
        Suggestion(str(category), int(count))
        for category, count in rows
        if category not in covered and count >= minimum
    ]

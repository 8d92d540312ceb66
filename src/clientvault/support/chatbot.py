"""The support chatbot: answers from the knowledge base by retrieval, or hands over.

Each published article is indexed under its title, each of its phrasings and its whole
text (phrasings and answer); a question is
compared with all of them by TF-IDF cosine similarity (scikit-learn), with word uni- and
bigrams plus character 3-to-5-grams inside words so that typos, plurals and French inflections
still match, and accents folded. The best article's similarity is the answer's confidence:
below the installation's threshold the bot does not guess — it hands over to a human, which
is also what a visitor gets whenever they ask for one. The bot only ever returns article
text: it never reads or reveals customer data.

The fitted index is cached per knowledge-base version (count and latest update), so answering
is one vectorisation and one sparse product, and an edit is picked up at the next question.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.support.models import KnowledgeArticle

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

#: Words that ask for a person rather than an answer (English and French).
_HUMAN = re.compile(
    r"\b(human|person|agent|operator|someone real|real person|humain|conseiller|conseill[eè]re|"
    r"quelqu'un|une personne|un agent|op[ée]rateur)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Reply:
    """The bot's answer (``article_id`` set) or a hand-over (``handover``), with confidence."""

    handover: bool
    confidence: float
    article_id: int | None = None
    title: str | None = None
    answer: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class _Index:
    version: tuple[int, datetime | None]
    words: TfidfVectorizer
    chars: TfidfVectorizer
    matrix: object  # scipy sparse matrix, rows = phrasings
    owners: np.ndarray  # article id of each row
    articles: dict[int, tuple[str, str, str]]  # id -> (language, title, answer)


#: Function words of English and French, dropped before matching: otherwise "how do I…" and
#: "comment puis-je…" make unrelated questions look alike. scikit-learn ships an English list
#: only; this short one covers both languages of the knowledge base (accents folded).
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "my",
        "me",
        "we",
        "you",
        "your",
        "is",
        "are",
        "was",
        "do",
        "does",
        "did",
        "can",
        "could",
        "how",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "to",
        "of",
        "in",
        "on",
        "for",
        "with",
        "and",
        "or",
        "it",
        "this",
        "that",
        "be",
        "been",
        "have",
        "has",
        "from",
        "at",
        "by",
        "not",
        "no",
        "please",
        "le",
        "la",
        "les",
        "un",
        "une",
        "des",
        "du",
        "de",
        "d",
        "l",
        "j",
        "je",
        "me",
        "m",
        "mon",
        "ma",
        "mes",
        "vous",
        "votre",
        "vos",
        "nous",
        "est",
        "sont",
        "ce",
        "c",
        "ca",
        "qu",
        "que",
        "qui",
        "quoi",
        "quand",
        "comment",
        "pourquoi",
        "ou",
        "et",
        "en",
        "au",
        "aux",
        "pour",
        "par",
        "sur",
        "avec",
        "pas",
        "ne",
        "n",
        "y",
        "il",
        "elle",
        "on",
        "se",
        "s",
        "t",
        "puis",
        "peut",
        "faire",
        "fait",
    ]
)
_TOKEN = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case, accents folded, function words dropped: "Où est ma commande ?" ->
    "commande"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    tokens = _TOKEN.findall(plain)
    kept = [t for t in tokens if t not in _STOP_WORDS]
    return " ".join(kept or tokens)


_cache: dict[str, _Index] = {}
_lock = threading.Lock()


def _version(session: Session) -> tuple[int, datetime | None]:
    count, latest = session.execute(
        select(func.count(), func.max(KnowledgeArticle.updated_at)).where(
            KnowledgeArticle.published.is_(True)
        )
    ).one()
    return int(count), latest


def _index(session: Session) -> _Index | None:
    version = _version(session)
    key = str(session.get_bind().engine.url)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.version == version:
            return cached
    texts: list[str] = []
    owners: list[int] = []
    articles: dict[int, tuple[str, str, str]] = {}
    for article in session.scalars(
        select(KnowledgeArticle).where(KnowledgeArticle.published.is_(True))
    ):
        articles[article.id] = (article.language, article.title, article.answer)
        phrasings = [p for p in [article.title, *article.phrasings.splitlines()] if p.strip()]
        # Each phrasing, and the whole article (its answer's words help paraphrases).
        for text in [*phrasings, " ".join([*phrasings, article.answer])]:
            texts.append(fold(text))
            owners.append(article.id)
    if not texts:
        return None
    # Imported here, not at module level: scikit-learn pulls in pandas, which the API and CLI
    # must not pay for at start-up (tests/unit/test_start_up_imports.py).
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    matrix = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
    index = _Index(version, words, chars, matrix, np.array(owners), articles)
    with _lock:
        _cache[key] = index
    return index


def answer(
    session: Session, question: str, *, threshold: float, language: str | None = None
) -> Reply:
    """The knowledge base's best answer to ``question``, or a hand-over when the visitor
    asks for a person, the question is empty, or no article is similar enough."""
    text = question.strip()
    if not text:
        return Reply(True, 0.0, reason="empty question")
    if _HUMAN.search(text):
        return Reply(True, 1.0, reason="the visitor asked for a person")
    index = _index(session)
    if index is None:
        return Reply(True, 0.0, reason="the knowledge base is empty")
    from scipy.sparse import hstack

    folded = fold(text)
    query = hstack([index.words.transform([folded]), index.chars.transform([folded])]).tocsr()
    # Both blocks are L2-normalised, so each row's norm is sqrt(2): halve the dot product
    # to get the mean of the word and character cosines, in [0, 1].
    scores = np.asarray((index.matrix @ query.T).todense()).ravel() / 2
    if language is not None:
        in_language = np.array([index.articles[o][0] == language for o in index.owners])
        if in_language.any():
            scores = np.where(in_language, scores, 0.0)
    best = int(np.argmax(scores))
    confidence = float(scores[best])
    article_id = int(index.owners[best])
    _, title, body = index.articles[article_id]
    if confidence < threshold:
        return Reply(True, confidence, reason="no article is close enough to the question")
    return Reply(False, confidence, article_id, title, body, "answered from the knowledge base")

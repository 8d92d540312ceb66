"""Category suggestions: a text classifier trained on the closed tickets agents categorised.

What it learns from: resolved and closed tickets with a category (set by an agent, or by the
helpdesk that sent the ticket's events; a suggestion is never written to ``category``) and
some text — the subject and the customer's messages, opened through the audited reveal path
(``texts.customer_texts``) under the job's own principal. It trains only with enough data:
at least ``MIN_CATEGORIES`` categories of ``MIN_PER_CATEGORY`` tickets each (smaller
categories are left out); otherwise no model, hence no suggestion.

How: the text is folded like the chatbot's (accents, French and English function words), then
hashed word uni- and bigrams and in-word character 3-to-5-grams (``HashingVectorizer``: no
vocabulary is kept, so the stored model lists no word of any ticket), TF-IDF weighted, and a
multinomial logistic regression. Features seen in fewer than ``MIN_DF`` tickets are dropped,
so a name or an order number that appears once leaves no weight. Before the final fit a
stratified fifth is held out and the accuracy on it recorded with the model.

The model is stored as plain arrays (``numpy.savez``, loaded without pickle); only the latest
is kept, and the daily retraining drops what erased customers' tickets taught it. Suggesting is
one hashing and one sparse product on the text a channel submits, before it is sealed.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.context import Store
from clientvault.support.chatbot import fold
from clientvault.support.models import CategoryModel, Ticket
from clientvault.support.texts import customer_texts

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

MIN_CATEGORIES = 2
MIN_PER_CATEGORY = 5
MIN_DF = 2
#: Routing uses a suggested category (when the ticket has none) from this probability up.
ROUTING_CONFIDENCE = 0.6
#: The newest closed tickets a training reads (each one is an audited decryption).
MAX_TICKETS = 5000
_BITS = 18
CLASSIFIER = Principal.system("support.categories", PII_REVEAL)
REASON = "training the ticket category suggestions"


@dataclass(frozen=True)
class Suggestion:
    """The classifier's best category for a text and its probability."""

    category: str
    confidence: float


@dataclass(frozen=True)
class Training:
    """What a training did: the model's size and hold-out accuracy, or why there is none."""

    trained: bool
    tickets: int
    categories: dict[str, int]
    accuracy: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class _Weights:
    classes: list[str]
    columns: np.ndarray  # kept hashed-feature indices, sorted
    idf: np.ndarray  # idf of each kept column
    coef: np.ndarray  # (classes, kept columns); for two classes, one row for classes[1]
    intercept: np.ndarray


def _features(texts: list[str]) -> csr_matrix:
    """Hashed word and character n-gram counts of folded texts (stateless: no vocabulary)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import HashingVectorizer

    folded = [fold(t) for t in texts]
    words, chars = (
        HashingVectorizer(
            analyzer=analyzer,
            ngram_range=grams,
            n_features=2**_BITS,
            alternate_sign=False,
            norm=None,
        )
        for analyzer, grams in (("word", (1, 2)), ("char_wb", (3, 5)))
    )
    return hstack([words.transform(folded), chars.transform(folded)]).tocsr()


def _weighted(counts: csr_matrix, columns: np.ndarray, idf: np.ndarray) -> csr_matrix:
    """Keep the model's columns, sub-linear TF times IDF, rows L2-normalised."""
    from sklearn.preprocessing import normalize

    kept = counts[:, columns].astype(np.float64)
    kept.data = 1.0 + np.log(kept.data)
    kept = kept.multiply(idf).tocsr()
    return normalize(kept)


def fit(texts: list[str], labels: list[str]) -> _Weights:
    """A classifier fitted on texts and their categories (no minimum checked here)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    counts = _features(texts)
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    columns = np.flatnonzero(df >= MIN_DF)
    idf = np.log((1 + len(texts)) / (1 + df[columns])) + 1.0
    model = LogisticRegression(C=10.0, solver="newton-cg", max_iter=1000)
    # One BLAS thread: a fit this small is slowed down twentyfold by threads fighting for
    # the cores (measured: 0.2 s against 5 s for 160 tickets on two busy cores).
    with threadpool_limits(1):
        model.fit(_weighted(counts, columns, idf), labels)
    return _Weights([str(c) for c in model.classes_], columns, idf, model.coef_, model.intercept_)


def predict(weights: _Weights, texts: list[str]) -> list[Suggestion]:
    """The best category of each text and its probability."""
    scores = _weighted(_features(texts), weights.columns, weights.idf) @ weights.coef.T
    scores = np.asarray(scores) + weights.intercept
    if len(weights.classes) == 2:  # one logit for the second class
        scores = np.hstack([np.zeros_like(scores), scores])
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities = scores / scores.sum(axis=1, keepdims=True)
    best = probabilities.argmax(axis=1)
    return [
        Suggestion(weights.classes[int(b)], float(probabilities[i, b])) for i, b in enumerate(best)
    ]


def holdout_accuracy(texts: list[str], labels: list[str], *, seed: int = 42) -> float:
    """Accuracy of a model fitted on four fifths of the tickets (stratified) on the rest."""
    from sklearn.model_selection import train_test_split

    train_x, test_x, train_y, test_y = train_test_split(
        texts, labels, test_size=0.2, stratify=labels, random_state=seed
    )
    expected: list[str] = list(test_y)
    found = predict(fit(train_x, train_y), test_x)
    return sum(s.category == y for s, y in zip(found, expected, strict=True)) / len(expected)


def _dump(weights: _Weights) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        columns=weights.columns,
        idf=weights.idf,
        coef=weights.coef,
        intercept=weights.intercept,
    )
    return buffer.getvalue()


def _load(row: CategoryModel) -> _Weights:
    with np.load(io.BytesIO(row.weights), allow_pickle=False) as arrays:
        return _Weights(
            list(row.categories),
            arrays["columns"],
            arrays["idf"],
            arrays["coef"],
            arrays["intercept"],
        )


def train(session: Session, store: Store) -> Training:
    """Retrain from the closed, categorised tickets and keep the new model as the only one;
    with too little data, remove any model (no suggestion rather than a stale one)."""
    closed = list(
        session.scalars(
            select(Ticket)
            .where(Ticket.status.in_(("resolved", "closed")), Ticket.category.is_not(None))
            .order_by(Ticket.created_at.desc())
            .limit(MAX_TICKETS)
        )
    )
    opened = customer_texts(session, store, closed, principal=CLASSIFIER, reason=REASON)
    pairs = [(opened[t.id], str(t.category)) for t in closed if opened.get(t.id)]
    counts: dict[str, int] = {}
    for _, label in pairs:
        counts[label] = counts.get(label, 0) + 1
    kept = {c for c, n in counts.items() if n >= MIN_PER_CATEGORY}
    session.execute(delete(CategoryModel))
    if len(kept) < MIN_CATEGORIES:
        return Training(
            False,
            len(pairs),
            counts,
            reason=(
                f"not enough data: {MIN_CATEGORIES} categories of at least "
                f"{MIN_PER_CATEGORY} closed tickets with text are needed"
            ),
        )
    x = [text for text, label in pairs if label in kept]
    y = [label for _, label in pairs if label in kept]
    accuracy = holdout_accuracy(x, y) if len(x) >= 5 * len(kept) else None
    weights = fit(x, y)
    session.add(
        CategoryModel(
            tickets=len(x), categories=weights.classes, accuracy=accuracy, weights=_dump(weights)
        )
    )
    session.flush()
    return Training(True, len(x), {c: counts[c] for c in sorted(kept)}, accuracy)


#: The loaded model per database, with its (id, training time): ids restart after a restore.
_cache: dict[str, tuple[tuple[int, datetime], _Weights]] = {}
_lock = threading.Lock()


def suggest(session: Session, text: str | None) -> Suggestion | None:
    """The category the current model suggests for a ticket's text, or ``None`` (no model,
    or no text)."""
    if not text or not text.strip():
        return None
    latest = session.execute(
        select(CategoryModel.id, CategoryModel.trained_at)
        .order_by(CategoryModel.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return None
    version = (int(latest.id), latest.trained_at)
    key = str(session.get_bind().engine.url)
    with _lock:
        cached = _cache.get(key)
    if cached is None or cached[0] != version:
        row = session.get(CategoryModel, version[0])
        if row is None:
            return None
        cached = (version, _load(row))
        with _lock:
            _cache[key] = cached
    return predict(cached[1], [text])[0]


def apply_suggestion(session: Session, ticket: Ticket, text: str | None) -> None:
    """Record the suggestion for a new ticket's text on the ticket (``category`` untouched)."""
    found = suggest(session, text)
    ticket.suggested_category = found.category if found else None
    ticket.suggestion_confidence = round(found.confidence, 4) if found else None

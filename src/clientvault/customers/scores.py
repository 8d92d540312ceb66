"""Customer scores: one value per customer and kind, written by the domains that compute them.

RFM groups and personas (segments), predicted lifetime value (analytics), purchase propensity,
churn and fraud risk (predict) all end up as "a score of this kind for this customer, from
this model version, computed then". Kept in one table, in this layer below them all, so that
segment rules read every kind through one generic condition, the 360° page lists them, and
export and erasure reach them through one holder (``customers.holders``) — a new kind of score
needs no new table, condition or holder.

A score is either numeric (``value``: a probability, an amount) or a label (``label``: an RFM
group, a persona name), or both (a persona's label and its cluster distance).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from clientvault.errors import InvalidInput
from clientvault.store.base import Base, utcnow

#: A kind names what is scored: lower-case words joined by underscores (``churn_probability``).
KIND_MAX = 64
_KIND = re.compile(rf"[a-z][a-z0-9_]{{0,{KIND_MAX - 1}}}")
_CHUNK = 500  # rows per INSERT, under SQLite's bound-parameter limit at 6 columns


class CustomerScore(Base):
    """The latest score of one kind for one customer."""

    __tablename__ = "customer_scores"
    __table_args__ = (Index("ix_customer_scores_kind_value", "kind", "value"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(KIND_MAX), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Score:
    """One customer's score of one kind, as it is written and read."""

    customer_id: uuid.UUID
    value: float | None = None
    label: str | None = None


@dataclass(frozen=True)
class ScoreKind:
    """A kind of score present in the database: for pickers and the segment builder."""

    kind: str
    customers: int
    model_version: str
    computed_at: datetime
    labels: tuple[str, ...]


def _check_kind(kind: str) -> str:
    if not _KIND.fullmatch(kind):
        raise InvalidInput(
            f"score kind {kind!r}: use 1 to {KIND_MAX} lower-case letters, digits and "
            "underscores, starting with a letter"
        )
    return kind


def replace_scores(
    session: Session,
    kind: str,
    scores: Iterable[Score],
    *,
    model_version: str,
    computed_at: datetime | None = None,
) -> int:
    """Replace every score of ``kind`` by ``scores`` (a full recomputation: customers absent
    from it lose their old score, so nobody keeps a stale one), inside the caller's
    transaction; returns how many were written."""
    _check_kind(kind)
    at = computed_at or utcnow()
    session.execute(delete(CustomerScore).where(CustomerScore.kind == kind))
    return _insert(session, kind, scores, model_version=model_version, at=at)


def put_scores(
    session: Session,
    kind: str,
    scores: Iterable[Score],
    *,
    model_version: str,
    computed_at: datetime | None = None,
) -> int:
    """Write or overwrite the scores of ``kind`` for the customers given (an incremental
    update: other customers keep theirs); returns how many were written."""
    _check_kind(kind)
    rows = list(scores)
    at = computed_at or utcnow()
    ids = [s.customer_id for s in rows]
    for start in range(0, len(ids), _CHUNK * 5):
        session.execute(
            delete(CustomerScore).where(
                CustomerScore.kind == kind,
                CustomerScore.customer_id.in_(ids[start : start + _CHUNK * 5]),
            )
        )
    return _insert(session, kind, rows, model_version=model_version, at=at)


def _insert(
    session: Session, kind: str, scores: Iterable[Score], *, model_version: str, at: datetime
) -> int:
    written = 0
    batch: list[dict[str, object]] = []
    for score in scores:
        batch.append(
            {
                "customer_id": score.customer_id,
                "kind": kind,
                "value": score.value,
                "label": score.label,
                "model_version": model_version,
                "computed_at": at,
            }
        )
        if len(batch) >= _CHUNK:
            session.execute(insert(CustomerScore), batch)
            written += len(batch)
            batch = []
    if batch:
        session.execute(insert(CustomerScore), batch)
        written += len(batch)
    return written


def remove_scores(
    session: Session, customer_ids: Sequence[uuid.UUID], kind: str | None = None
) -> int:
    """Delete these customers' scores (of one kind, or all): for a customer who objects to
    profiling or restricts processing, whose scores must go at once, not at the next run."""
    query = delete(CustomerScore).where(CustomerScore.customer_id.in_(list(customer_ids)))
    if kind is not None:
        query = query.where(CustomerScore.kind == kind)
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


def scores_of(session: Session, customer_id: uuid.UUID) -> list[CustomerScore]:
    """One customer's scores, by kind: for the 360° page, the API and explanations."""
    return list(
        session.scalars(
            select(CustomerScore)
            .where(CustomerScore.customer_id == customer_id)
            .order_by(CustomerScore.kind)
        )
    )


def score_kinds(session: Session, *, max_labels: int = 50) -> list[ScoreKind]:
    """The kinds of score present, with how many customers have one, the model version and
    the labels in use (up to ``max_labels``): what a segment builder offers to pick from."""
    kinds = []
    for kind, count, version, at in session.execute(
        select(
            CustomerScore.kind,
            func.count(),
            func.max(CustomerScore.model_version),
            func.max(CustomerScore.computed_at),
        )
        .group_by(CustomerScore.kind)
        .order_by(CustomerScore.kind)
    ):
        labels = session.scalars(
            select(CustomerScore.label)
            .where(CustomerScore.kind == kind, CustomerScore.label.is_not(None))
            .distinct()
            .order_by(CustomerScore.label)
            .limit(max_labels)
        )
        kinds.append(ScoreKind(kind, int(count), str(version), at, tuple(str(x) for x in labels)))
    return kinds

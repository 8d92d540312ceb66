"""Point-in-time customer features: everything a model sees is computed "as of" a cut-off.

Each feature source reads only rows strictly before the cut-off and reports the newest
timestamp it read; ``build_features`` refuses a source whose newest row is at or after the
cut-off (``LeakageError``), so a feature that peeks at the future fails loudly instead of
inflating a model's hold-out metrics. Refunds are deliberately not netted from order totals:
``orders.refunded_amount`` is today's figure, which includes refunds made after the cut-off.

Sources cover orders (recency, frequency, monetary), category affinity (spend shares of the
most common categories), sessions (page views grouped by 30 minutes of inactivity), support
contacts and CSAT answers.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from clientvault.errors import InvalidInput
from clientvault.ingest.commerce.models import Order, OrderItem, Product
from clientvault.ingest.models import Event

#: Gap of inactivity that ends a web session (the usual analytics convention).
SESSION_GAP = timedelta(minutes=30)
#: How many of the most common categories get a spend-share feature of their own.
TOP_CATEGORIES = 8
#: The prefix of a category's spend-share feature (``category_share:shoes``).
CATEGORY_SHARE = "category_share:"
#: Customers whose features are computed at once: the memory a frame needs while it is built
#: is bounded by this, whatever the population (a million customers are scored batch by batch).
BATCH = 20_000
DAY = 86400.0
# The customer columns as non-null: every query below filters out the rows without one.
ORDER_CUSTOMER: InstrumentedAttribute[uuid.UUID] = Order.customer_id  # type: ignore[assignment]
EVENT_CUSTOMER: InstrumentedAttribute[uuid.UUID] = Event.customer_id  # type: ignore[assignment]


class LeakageError(InvalidInput):
    """A feature source read data at or after the cut-off: its values would leak the future."""


@dataclass
class SourceResult:
    """What one feature source computed: ``columns[feature][customer]`` and the newest
    timestamp among the rows it read (``None`` if it read none)."""

    columns: dict[str, dict[uuid.UUID, float]] = field(default_factory=dict)
    latest_seen: datetime | None = None

    def saw(self, moment: datetime | None) -> None:
        """Note that a row of this time was read."""
        if moment is not None and (self.latest_seen is None or moment > self.latest_seen):
            self.latest_seen = moment


@dataclass(frozen=True)
class Scope:
    """What a feature source reads: rows strictly before ``as_of``, of the customers whose ids
    lie in ``[first, last]`` (one batch, a range the customer indexes answer; every customer
    when ``None``), and the categories that get a spend-share feature."""

    as_of: datetime
    first: uuid.UUID | None = None
    last: uuid.UUID | None = None
    categories: tuple[str, ...] = ()

    def customers(self, column: InstrumentedAttribute[uuid.UUID]) -> ColumnElement[bool]:
        """The condition keeping ``column`` (a customer id) non-null and inside the batch."""
        terms: list[ColumnElement[bool]] = [column.is_not(None)]
        if self.first is not None:
            terms.append(column >= self.first)
        if self.last is not None:
            terms.append(column <= self.last)
        return and_(*terms)


#: A feature source: ``(session, scope) -> SourceResult`` over the customers of the scope.
FeatureSource = Callable[[Session, Scope], SourceResult]


@dataclass(frozen=True)
class FeatureFrame:
    """Features of a population as of a cut-off: one row per customer, one column per name
    (``NaN`` where a customer has no value, e.g. no CSAT answer)."""

    as_of: datetime
    customer_ids: list[uuid.UUID]
    names: list[str]
    matrix: NDArray[np.float64]

    def column(self, name: str) -> NDArray[np.float64]:
        """One feature's values, in the order of ``customer_ids``."""
        return self.matrix[:, self.names.index(name)]


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / DAY


_ORDER_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "first_order_days",
    "orders_90d",
)


def order_features(session: Session, scope: Scope) -> SourceResult:
    """Recency, frequency and monetary value of orders placed before ``as_of``, tenure since
    the first order and activity in the last 90 days."""
    as_of = scope.as_of
    result = SourceResult()
    recent = as_of - timedelta(days=90)
    rows = session.execute(
        select(
            ORDER_CUSTOMER,
            func.count(),
            func.sum(Order.total),
            func.min(Order.placed_at),
            func.max(Order.placed_at),
            func.sum(case((Order.placed_at >= recent, 1), else_=0)),
        )
        .where(scope.customers(ORDER_CUSTOMER), Order.placed_at < as_of)
        .group_by(ORDER_CUSTOMER)
    )
    cols: dict[str, dict[uuid.UUID, float]] = {name: {} for name in _ORDER_FEATURES}
    recency, frequency, monetary, average, tenure, lately = (cols[name] for name in _ORDER_FEATURES)
    for customer_id, count, total, first, last, recent_count in rows:
        result.saw(last)
        recency[customer_id] = _days(as_of, last)
        frequency[customer_id] = float(count)
        monetary[customer_id] = float(total or 0)
        average[customer_id] = float(total or 0) / max(int(count), 1)
        tenure[customer_id] = _days(as_of, first)
        if recent_count:
            lately[customer_id] = float(recent_count)
    result.columns = cols
    return result


def top_categories(session: Session, as_of: datetime) -> tuple[str, ...]:
    """The ``TOP_CATEGORIES`` categories with the most spend in orders before ``as_of``
    (across every customer): those that get a spend-share feature of their own."""
    totals: dict[str, float] = defaultdict(float)
    for category, amount in session.execute(
        select(Product.category, func.sum(OrderItem.unit_price * OrderItem.quantity))
        .select_from(Order)
        .join(OrderItem, OrderItem.order_id == Order.id)
        .join(Product, Product.id == OrderItem.product_id)
        .where(Order.customer_id.is_not(None), Order.placed_at < as_of)
        .group_by(Product.category)
    ):
        totals[category or "none"] += float(amount or 0)
    ranked = sorted(totals.items(), key=lambda r: (-r[1], r[0]))
    return tuple(c for c, _ in ranked[:TOP_CATEGORIES])


def category_features(session: Session, scope: Scope) -> SourceResult:
    """Category affinity: the number of categories bought and the share of spend in each of
    the scope's categories (the most common ones, ``top_categories``)."""
    result = SourceResult()
    spend: dict[uuid.UUID, dict[str, float]] = {}
    for customer_id, category, amount, last in session.execute(
        select(
            ORDER_CUSTOMER,
            Product.category,
            func.sum(OrderItem.unit_price * OrderItem.quantity),
            func.max(Order.placed_at),
        )
        .join(OrderItem, OrderItem.order_id == Order.id)
        .join(Product, Product.id == OrderItem.product_id)
        .where(scope.customers(ORDER_CUSTOMER), Order.placed_at < scope.as_of)
        .group_by(ORDER_CUSTOMER, Product.category)
    ):
        result.saw(last)
        by_category = spend.setdefault(customer_id, {})
        name = category or "none"
        by_category[name] = by_category.get(name, 0.0) + float(amount or 0)
    cols: dict[str, dict[uuid.UUID, float]] = defaultdict(dict)
    for customer_id, by_category in spend.items():
        whole = sum(by_category.values()) or 1.0
        cols["distinct_categories"][customer_id] = float(len(by_category))
        cols["top_category_share"][customer_id] = max(by_category.values()) / whole
        for category in scope.categories:
            cols[f"{CATEGORY_SHARE}{category}"][customer_id] = by_category.get(category, 0) / whole
    result.columns = dict(cols)
    return result


def session_features(session: Session, scope: Scope) -> SourceResult:
    """Web sessions before ``as_of`` (page views split by 30 minutes of inactivity): how
    many in the last 30 and 90 days, and days since the last one."""
    as_of = scope.as_of
    result = SourceResult()
    start = as_of - timedelta(days=90)
    cols: dict[str, dict[uuid.UUID, float]] = defaultdict(dict)
    previous: dict[uuid.UUID, datetime] = {}
    for customer_id, at in session.execute(
        select(EVENT_CUSTOMER, Event.occurred_at)
        .where(
            scope.customers(EVENT_CUSTOMER),
            Event.type == "page",
            Event.occurred_at < as_of,
            Event.occurred_at >= start,
        )
        .order_by(EVENT_CUSTOMER, Event.occurred_at)
    ):
        result.saw(at)
        last = previous.get(customer_id)
        if last is None or at - last > SESSION_GAP:
            cols["sessions_90d"][customer_id] = cols["sessions_90d"].get(customer_id, 0.0) + 1
            if at >= as_of - timedelta(days=30):
                cols["sessions_30d"][customer_id] = cols["sessions_30d"].get(customer_id, 0.0) + 1
        previous[customer_id] = at
    for customer_id, at in previous.items():
        cols["days_since_session"][customer_id] = _days(as_of, at)
    result.columns = dict(cols)
    return result


def support_features(session: Session, scope: Scope) -> SourceResult:
    """Support tickets opened in the 180 days before ``as_of`` and the mean CSAT score of
    the surveys answered before it."""
    as_of = scope.as_of
    result = SourceResult()
    cols: dict[str, dict[uuid.UUID, float]] = defaultdict(dict)
    for customer_id, count, last in session.execute(
        select(EVENT_CUSTOMER, func.count(), func.max(Event.occurred_at))
        .where(
            scope.customers(EVENT_CUSTOMER),
            Event.name == "Support Ticket Opened",
            Event.occurred_at < as_of,
            Event.occurred_at >= as_of - timedelta(days=180),
        )
        .group_by(EVENT_CUSTOMER)
    ):
        result.saw(last)
        cols["support_tickets_180d"][customer_id] = float(count)
    scores: dict[uuid.UUID, list[float]] = defaultdict(list)
    for customer_id, at, properties in session.execute(
        select(EVENT_CUSTOMER, Event.occurred_at, Event.properties).where(
            scope.customers(EVENT_CUSTOMER),
            Event.name == "CSAT Survey Answered",
            Event.occurred_at < as_of,
        )
    ):
        score = (properties or {}).get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            result.saw(at)
            scores[customer_id].append(float(score))
    for customer_id, values in scores.items():
        cols["csat_mean"][customer_id] = sum(values) / len(values)
    result.columns = dict(cols)
    return result


#: The sources a model's features come from, in column order.
SOURCES: tuple[tuple[str, FeatureSource], ...] = (
    ("orders", order_features),
    ("categories", category_features),
    ("sessions", session_features),
    ("support", support_features),
)
#: Features whose absence means zero (counts, shares), rather than "unknown" (NaN).
_ZERO_WHEN_ABSENT = ("frequency", "monetary", "orders_90d", "sessions_", "support_", "category_")


def _missing(name: str) -> float:
    return 0.0 if name.startswith(_ZERO_WHEN_ABSENT) else math.nan


def _frame(
    session: Session,
    scope: Scope,
    ids: list[uuid.UUID],
    sources: Sequence[tuple[str, FeatureSource]],
    names: Sequence[str] | None,
) -> FeatureFrame:
    """One batch's frame: ``ids`` sorted, all inside the scope's range."""
    found: dict[str, dict[uuid.UUID, float]] = {}
    for source_name, source in sources:
        result = source(session, scope)
        if result.latest_seen is not None and result.latest_seen >= scope.as_of:
            raise LeakageError(
                f"feature source {source_name!r} read data from {result.latest_seen.isoformat()}, "
                f"at or after the cut-off {scope.as_of.isoformat()}"
            )
        found.update(result.columns)
    columns = list(names) if names is not None else sorted(found)
    matrix = np.empty((len(ids), len(columns)), dtype=np.float64)
    position = {customer_id: row for row, customer_id in enumerate(ids)}
    for j, name in enumerate(columns):
        matrix[:, j] = _missing(name)
        # A source reads the batch's id range: it may see customers outside the batch.
        pairs = ((position.get(c), v) for c, v in found.get(name, {}).items())
        known = [(row, v) for row, v in pairs if row is not None]
        if known:
            rows, values = zip(*known, strict=True)
            matrix[list(rows), j] = values
    return FeatureFrame(as_of=scope.as_of, customer_ids=ids, names=columns, matrix=matrix)


def feature_batches(
    session: Session,
    *,
    as_of: datetime,
    batches: Iterable[Sequence[uuid.UUID]],
    sources: Sequence[tuple[str, FeatureSource]] = SOURCES,
    names: Sequence[str] | None = None,
) -> Iterator[FeatureFrame]:
    """The features of each batch of customers as of ``as_of``, one frame per batch, read
    batch by batch (each source reads the batch's id range only, so memory follows the
    batch, not the population); raises ``LeakageError`` if a source read anything at or
    after the cut-off. ``names`` fixes the columns (a trained model's feature list when
    scoring); by default every feature any source produced for the batch."""
    if names is None:
        categories = top_categories(session, as_of)
    else:
        categories = tuple(n[len(CATEGORY_SHARE) :] for n in names if n.startswith(CATEGORY_SHARE))
    for batch in batches:
        ids = sorted(set(batch))
        if ids:
            scope = Scope(as_of, ids[0], ids[-1], categories)
            yield _frame(session, scope, ids, sources, names)


def build_features(
    session: Session,
    *,
    as_of: datetime,
    customers: Iterable[uuid.UUID],
    sources: Sequence[tuple[str, FeatureSource]] = SOURCES,
    names: Sequence[str] | None = None,
    batch: int = BATCH,
) -> FeatureFrame:
    """The features of ``customers`` as of ``as_of`` in one frame (read ``batch`` customers
    at a time, see ``feature_batches``); raises ``LeakageError`` if a source read anything at
    or after the cut-off. ``names`` fixes the columns (a trained model's feature list when
    scoring); by default every feature any source produced."""
    ids = sorted(set(customers))
    frames = list(
        feature_batches(
            session,
            as_of=as_of,
            batches=(ids[i : i + batch] for i in range(0, len(ids), batch)),
            sources=sources,
            names=names,
        )
    )
    if names is not None:
        columns = list(names)
    else:
        columns = sorted({name for frame in frames for name in frame.names})
    return FeatureFrame(
        as_of=as_of, customer_ids=ids, names=columns, matrix=combine(frames, columns)
    )


def combine(frames: Sequence[FeatureFrame], columns: Sequence[str]) -> NDArray[np.float64]:
    """The frames' rows one under the other, in ``columns`` (a column a frame lacks: no
    customer of its batch had that feature, so its absent value)."""
    matrix = np.empty((sum(len(f.customer_ids) for f in frames), len(columns)), dtype=np.float64)
    row = 0
    for frame in frames:
        for j, name in enumerate(columns):
            matrix[row : row + len(frame.customer_ids), j] = (
                frame.column(name) if name in frame.names else _missing(name)
            )
        row += len(frame.customer_ids)
    return matrix


def history_span(session: Session) -> tuple[datetime, datetime] | None:
    """The first and last order times: how much history there is to learn from."""
    first, last = session.execute(
        select(func.min(Order.placed_at), func.max(Order.placed_at))
    ).one()
    return None if first is None else (first, last)

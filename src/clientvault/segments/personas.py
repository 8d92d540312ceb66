"""Personas: KMeans clusters of customers on standardised behavioural and psychographic
features, the number of clusters chosen by silhouette, each described by what sets it apart.

Features per live customer: age, orders, total spent (net), average basket, days since the
last order, events in the last 90 days, and one column per interest, lifestyle and price
sensitivity seen in ``traits`` (the demo's psychographics). Missing numbers take the column's
median; everything is standardised (``StandardScaler``) so no unit dominates. ``KMeans`` runs
for each k in a range; the k with the best silhouette (on a sample, for speed) wins. A
cluster is described by its three features furthest from the population, in words ("young,
high basket, sport"). Written as the customer score ``persona``: label the description, value
the cluster's number, model version the k and the date.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select

from clientvault.customers.scores import Score, replace_scores
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.segments.compiler import live_customers
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

KIND = "persona"
#: Fewer customers than this: no clustering (a persona of five people describes no one).
MIN_CUSTOMERS = 30
SEED = 7
_SAMPLE = 5000
#: How a numeric feature reads when its cluster is above / below the population.
_WORDS = {
    "age": ("older", "young"),
    "orders": ("frequent buyers", "rare buyers"),
    "spent": ("big spenders", "small spenders"),
    "basket": ("high basket", "low basket"),
    "days_since_order": ("lapsed", "recent buyers"),
    "activity": ("very active", "quiet"),
}


@dataclass
class Personas:
    """What a run found: k, its silhouette, the customers clustered and each label."""

    k: int = 0
    silhouette: float = 0.0
    customers: int = 0
    labels: dict[int, str] = field(default_factory=dict)


def _features(store: Store, now: datetime) -> tuple[list[uuid.UUID], list[str], np.ndarray]:
    net = Order.total - func.coalesce(Order.refunded_amount, 0)
    with store.read_sessions() as session:
        people = session.execute(
            select(Customer.id, Customer.birth_year, Customer.traits).where(live_customers())
        ).all()
        orders = {
            row[0]: row[1:]
            for row in session.execute(
                select(Order.customer_id, func.count(), func.sum(net), func.max(Order.placed_at))
                .where(Order.customer_id.is_not(None))
                .group_by(Order.customer_id)
            )
        }
        activity = dict(
            session.execute(
                select(Event.customer_id, func.count())
                .where(
                    Event.customer_id.is_not(None), Event.occurred_at >= now - timedelta(days=90)
                )
                .group_by(Event.customer_id)
            ).all()
        )
    tags: Counter[str] = Counter()
    for _, _, traits in people:
        tags.update(_tags(traits or {}))
    kept = sorted(tag for tag, n in tags.items() if n >= max(2, len(people) // 50))[:40]
    names = ["age", "orders", "spent", "basket", "days_since_order", "activity", *kept]
    rows = []
    for customer_id, birth_year, traits in people:
        count, spent, last = orders.get(customer_id, (0, 0, None))
        spent_f = float(spent or 0)
        mine = _tags(traits or {})
        rows.append(
            [
                now.year - birth_year if birth_year else np.nan,
                float(count),
                spent_f,
                spent_f / count if count else np.nan,
                (now - last) / timedelta(days=1) if last is not None else np.nan,
                float(activity.get(customer_id, 0)),
                *(1.0 if tag in mine else 0.0 for tag in kept),
            ]
        )
    return [p[0] for p in people], names, np.array(rows, dtype=float).reshape(len(rows), len(names))


def _tags(traits: dict[str, object]) -> set[str]:
    found: set[str] = set()
    interests = traits.get("interests")
    if isinstance(interests, list):
        found.update(str(i) for i in interests if isinstance(i, str))
    for key in ("lifestyle", "price_sensitivity"):
        value = traits.get(key)
        if isinstance(value, str):
            found.add(f"{value} {key.replace('_', ' ')}" if key == "price_sensitivity" else value)
    return found


def describe(names: list[str], centre: np.ndarray, *, words: int = 3) -> str:
    """A cluster's centre (standardised) in words: its features furthest from zero."""
    order = np.argsort(-np.abs(centre))
    parts: list[str] = []
    for index in order:
        name = names[index]
        value = centre[index]
        if abs(value) < 0.25:
            break
        if name in _WORDS:
            parts.append(_WORDS[name][0 if value > 0 else 1])
        elif value > 0:
            parts.append(name.replace("_", " "))
        else:
            continue  # "not sport" describes nobody
        if len(parts) == words:
            break
    return (", ".join(parts) or "average")[:64]


def compute_personas(
    store: Store, *, k_range: range = range(2, 7), now: datetime | None = None
) -> Personas:
    """Cluster the live customers into personas and write them as scores."""
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    at = now or utcnow()
    ids, names, matrix = _features(store, at)
    found = Personas(customers=len(ids))
    if len(ids) < MIN_CUSTOMERS:
        with store.sessions.begin() as session:
            replace_scores(session, KIND, [], model_version="kmeans-none", computed_at=at)
        return found
    medians = np.nanmedian(np.where(np.isnan(matrix).all(axis=0), 0.0, matrix), axis=0)
    filled = np.where(np.isnan(matrix), medians, matrix)
    scaled = StandardScaler().fit_transform(filled)
    best: tuple[float, int, np.ndarray, np.ndarray] | None = None
    for k in k_range:
        if k >= len(ids):
            break
        model = KMeans(n_clusters=k, n_init=4, random_state=SEED).fit(scaled)
        if len(set(model.labels_)) < 2:
            continue
        score = float(
            silhouette_score(
                scaled, model.labels_, sample_size=min(_SAMPLE, len(ids)), random_state=SEED
            )
        )
        if best is None or score > best[0]:
            best = (score, k, model.labels_, model.cluster_centers_)
    if best is None:
        return found
    score, k, labels, centres = best
    found.k, found.silhouette = k, score
    found.labels = {c: describe(names, centres[c]) for c in range(k)}
    # Two clusters may read alike: number them apart.
    seen: Counter[str] = Counter(found.labels.values())
    for c in range(k):
        if seen[found.labels[c]] > 1:
            found.labels[c] = f"{found.labels[c][:58]} ({c + 1})"
    version = f"kmeans-k{k}-{at.date().isoformat()}"
    with store.sessions.begin() as session:
        replace_scores(
            session,
            KIND,
            [
                Score(i, value=float(c), label=found.labels[int(c)])
                for i, c in zip(ids, labels, strict=True)
            ],
            model_version=version,
            computed_at=at,
        )
    return found


def _personas_job(store: Store, settings: Settings) -> None:
    compute_personas(store)


PERSONAS = ScheduledJob(
    name="segments.personas",
    description="Cluster customers into personas (KMeans, k by silhouette; score persona).",
    schedule=lambda settings: "daily at 04:00",
    run=_personas_job,
    lease=timedelta(hours=2),
)

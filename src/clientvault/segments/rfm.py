"""RFM: recency, frequency and monetary quintile scores, and the classic named groups.

Every live customer with at least one order gets three scores from 1 to 5 — recency (days
since the last order: recent is 5), frequency (orders) and monetary (total spent net of
refunds) — each the quintile of the customer's rank among all buyers (ties share their
average rank, ``scipy.stats.rankdata``). The named group reads recency and frequency, as the
usual RFM grid does (champions: recent and frequent; can't lose: frequent once, gone for a
long time…). Written as the customer score ``rfm_group``: the label is the group, the value
the three digits (``545``), the model version the date of the run. Recomputed daily.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select

from clientvault.customers.scores import Score, replace_scores
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.segments.compiler import live_customers
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob

KIND = "rfm_group"
#: The named groups, first match wins, on (recency score, frequency score).
GROUPS: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("champions", (5, 5), (4, 5)),
    ("loyal", (3, 5), (4, 5)),
    ("cant_lose", (1, 2), (5, 5)),
    ("at_risk", (1, 2), (3, 4)),
    ("lost", (1, 1), (1, 1)),
    ("hibernating", (1, 2), (1, 2)),
    ("potential_loyalists", (4, 5), (2, 3)),
    ("new_customers", (5, 5), (1, 1)),
    ("promising", (4, 4), (1, 1)),
    ("need_attention", (3, 3), (3, 3)),
    ("about_to_sleep", (3, 3), (1, 2)),
)


def group_of(recency: int, frequency: int) -> str:
    """The named group of a recency and a frequency score (1-5 each)."""
    for name, (r_low, r_high), (f_low, f_high) in GROUPS:
        if r_low <= recency <= r_high and f_low <= frequency <= f_high:
            return name
    return "need_attention"


def quintiles(values: np.ndarray) -> np.ndarray:
    """Each value's quintile (1-5) by rank, ties sharing their average rank."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy.stats import rankdata

    if len(values) == 0:
        return np.array([], dtype=int)
    ranks = rankdata(values, method="average")
    # The middle of each rank's share: n tied values all land in the middle quintile.
    found: np.ndarray = np.clip(np.ceil((ranks - 0.5) / len(values) * 5), 1, 5).astype(int)
    return found


def compute_rfm(store: Store, *, zone: ZoneInfo, now: datetime | None = None) -> int:
    """Recompute every customer's RFM group; returns how many customers got one."""
    at = now or utcnow()
    net = Order.total - func.coalesce(Order.refunded_amount, 0)
    with store.sessions.begin() as session:
        rows = session.execute(
            select(Order.customer_id, func.max(Order.placed_at), func.count(), func.sum(net))
            .join(Customer, Customer.id == Order.customer_id)
            .where(live_customers(), Order.placed_at <= at)
            .group_by(Order.customer_id)
        ).all()
        ids: list[uuid.UUID] = [row[0] for row in rows if row[0] is not None]
        days = np.array([(at - row[1]) / timedelta(days=1) for row in rows], dtype=float)
        counts = np.array([row[2] for row in rows], dtype=float)
        spent = np.array([float(row[3] or 0) for row in rows], dtype=float)
        recency = quintiles(-days)  # fewer days since the last order: a higher score
        frequency = quintiles(counts)
        monetary = quintiles(spent)
        scores = [
            Score(
                customer_id,
                value=float(r * 100 + f * 10 + m),
                label=group_of(int(r), int(f)),
            )
            for customer_id, r, f, m in zip(ids, recency, frequency, monetary, strict=True)
        ]
        version = f"rfm-quintiles-{at.astimezone(zone).date().isoformat()}"
        return replace_scores(session, KIND, scores, model_version=version, computed_at=at)


def _rfm_job(store: Store, settings: Settings) -> None:
    compute_rfm(store, zone=settings.zone)


RFM = ScheduledJob(
    name="segments.rfm",
    description="Recompute RFM quintile scores and groups (customer score rfm_group).",
    schedule=lambda settings: "daily at 03:30",
    run=_rfm_job,
    lease=timedelta(hours=2),
)

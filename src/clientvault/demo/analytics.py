"""The demo's analytics showcase: a CLV fit with its hold-out calibration, and an A/B
experiment whose exposures are the demo shoppers' checkouts, so the dashboards and the
experiment page have something to show after ``make demo``."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, insert, select

from clientvault.analytics import experiments
from clientvault.analytics.lifetime_value import fit_and_score
from clientvault.analytics.models import Experiment
from clientvault.errors import InvalidInput
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.settings import Settings
from clientvault.store.context import Store

EXPERIMENT = "demo-checkout-button"
HOLDOUT_DAYS = 90


def _fit_clv(store: Store, settings: Settings) -> str:
    with store.sessions.begin() as session:
        last = session.scalar(select(func.max(Order.placed_at)))
        if last is None:
            return "no orders, no CLV fit"
        end = last.astimezone(settings.zone).date()
        try:
            report = fit_and_score(
                session,
                settings.zone,
                calibration_end=end - timedelta(days=HOLDOUT_DAYS),
                observation_end=end,
            )
        except InvalidInput as refused:
            return f"CLV not fitted: {refused.message}"
    return (
        f"CLV fitted on {report.customers} buyers (BG/NBD r={report.bgnbd['r']:.3g}, "
        f"a={report.bgnbd['a']:.3g}), {HOLDOUT_DAYS}-day hold-out calibration"
    )


def _experiment(store: Store) -> str:
    """An experiment on the checkout button: each shopper's first checkout becomes an
    ``Experiment Viewed`` event, in the variant the assignment hash gives them."""
    with store.sessions.begin() as session:
        if session.scalar(select(Experiment.id).where(Experiment.key == EXPERIMENT)):
            return f"experiment {EXPERIMENT} exists already"
        firsts = session.execute(
            select(Event.customer_id, func.min(Event.occurred_at))
            .where(Event.name == "Checkout Started", Event.customer_id.is_not(None))
            .group_by(Event.customer_id)
        ).all()
        experiment = experiments.create(
            session,
            key=EXPERIMENT,
            name="Checkout button colour",
            description="Demo: green against the current blue button.",
            variants=[("blue", 1), ("green", 1)],
            goal={"kind": "event", "event": "Order Completed"},
            guardrails=[{"kind": "revenue"}],
        )
        if firsts:
            experiment.started_at = min(at for _, at in firsts)
        rows = []
        for customer_id, at in firsts:
            variant = experiments.assign(experiment, str(customer_id)).variant
            digest = hashlib.sha256(f"{EXPERIMENT}:{customer_id}".encode()).hexdigest()[:32]
            rows.append(
                {
                    "message_id": f"demo-exp-{digest}",
                    "type": "track",
                    "name": experiments.EXPOSURE_EVENT,
                    "customer_id": customer_id,
                    "occurred_at": at,
                    "received_at": at,
                    "source": "demo",
                    "properties": {"experiment_id": EXPERIMENT, "variation_id": variant},
                    "context": {},
                }
            )
        for start in range(0, len(rows), 500):
            session.execute(insert(Event), rows[start : start + 500])
    return f"experiment {EXPERIMENT} with {len(rows)} exposures"


def showcase(store: Store, settings: Settings) -> str:
    """Fit the CLV models and start the demo experiment; one summary line."""
    return f"analytics: {_fit_clv(store, settings)}; {_experiment(store)}"

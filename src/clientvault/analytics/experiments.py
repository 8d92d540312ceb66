"""A/B experiments: stored definitions, deterministic assignment, exposures from the event log
and results through the statistics engine (``analytics.stats``).

* **Assignment** hashes ``experiment key : unit id`` (a customer's user id or an anonymous id)
  with SHA-256 to a number in [0, 1) and picks the variant whose cumulative weight covers it:
  the same unit always gets the same variant, on any server, with nothing stored. A global
  **holdout** share (hashed separately, on the unit alone, so it is the same units for every
  experiment) sees the control and is not counted.
* **Exposures** are Segment's standard ``Experiment Viewed`` events (``experiment_id``,
  ``variation_id``), so experiments run by any Segment-compatible client count; a person's
  first exposure decides their variant.
* **Goal metrics**: ``{"kind": "event", "event": NAME}`` (converted if the person has that
  event after their first exposure: two-proportion z-test, Beta-binomial Bayesian) or
  ``{"kind": "revenue"}`` (net order revenue after exposure per person: Welch's t-test, normal
  Bayesian, CUPED with the 30 days before the experiment as pre-period). Guardrail metrics are
  computed the same way; p-values across variants × metrics are Holm-corrected.
"""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.analytics import stats
from clientvault.analytics.models import Experiment
from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow

EXPOSURE_EVENT = "Experiment Viewed"
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PRE_PERIOD = timedelta(days=30)


def _check_metric(metric: dict[str, Any]) -> dict[str, Any]:
    kind = metric.get("kind")
    if kind == "revenue":
        return {"kind": "revenue"}
    event = metric.get("event")
    if kind == "event" and isinstance(event, str) and 0 < len(event) <= 200:
        return {"kind": "event", "event": event}
    raise InvalidInput('a metric is {"kind": "revenue"} or {"kind": "event", "event": NAME}')


def create(
    session: Session,
    *,
    key: str,
    name: str,
    variants: list[tuple[str, float]],
    goal: dict[str, Any],
    guardrails: list[dict[str, Any]] | None = None,
    holdout: float = 0.0,
    planned_users: int = 1000,
    description: str = "",
    by: Principal | None = None,
) -> Experiment:
    """Store a new running experiment; the first variant is the control. Created by staff
    (``by``, from the API or the console), it is recorded in the audit log."""
    if not _KEY.fullmatch(key):
        raise InvalidInput("an experiment key is 1-64 letters, digits, '_', '.' or '-'")
    if not 1 <= len(name.strip()) <= 200:
        raise InvalidInput("an experiment needs a name of 1 to 200 characters")
    if not 2 <= len(variants) <= 10:
        raise InvalidInput("an experiment has 2 to 10 variants")
    names = [v for v, _ in variants]
    if len(set(names)) != len(names) or not all(_KEY.fullmatch(v) for v in names):
        raise InvalidInput("variant keys must be distinct and 1-64 letters, digits, '_.-'")
    if any(not 0 < w <= 1000 for _, w in variants):
        raise InvalidInput("variant weights must be positive")
    if not 0 <= holdout < 0.5:
        raise InvalidInput("the holdout share is between 0 and 0.5")
    if not 10 <= planned_users <= 100_000_000:
        raise InvalidInput("planned users per variant: between 10 and 100 million")
    if session.scalar(select(Experiment.id).where(Experiment.key == key)) is not None:
        raise Conflict(f"an experiment with key {key!r} exists")
    total = sum(w for _, w in variants)
    experiment = Experiment(
        key=key,
        name=name.strip(),
        description=description[:2000],
        variants=[{"key": v, "weight": w / total} for v, w in variants],
        goal=_check_metric(goal),
        guardrails=[_check_metric(m) for m in guardrails or []],
        holdout=holdout,
        planned_users=planned_users,
        status="running",
        started_at=utcnow(),
    )
    session.add(experiment)
    session.flush()
    if by is not None:
        audit.record(
            session,
            principal=by,
            action="experiment.created",
            target_type="experiment",
            target_ids=[experiment.key],
        )
    return experiment


def get(session: Session, key: str) -> Experiment:
    """The experiment with this key, or ``NotFound``."""
    experiment = session.scalar(select(Experiment).where(Experiment.key == key))
    if experiment is None:
        raise NotFound(f"no experiment {key!r}")
    return experiment


def listing(session: Session) -> list[Experiment]:
    """Every experiment, newest first."""
    return list(session.scalars(select(Experiment).order_by(Experiment.id.desc())))


def stop(session: Session, key: str) -> Experiment:
    """Stop an experiment: assignment then always returns the control."""
    experiment = get(session, key)
    experiment.status = "stopped"
    experiment.stopped_at = utcnow()
    return experiment


def _unit_hash(*parts: str) -> float:
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return float(struct.unpack(">Q", digest[:8])[0] / 2**64)


@dataclass(frozen=True)
class Assignment:
    """The variant a unit sees, and whether it counts in the experiment."""

    experiment: str
    variant: str
    in_experiment: bool


def assign(experiment: Experiment, unit_id: str) -> Assignment:
    """The unit's variant: deterministic in (experiment key, unit id), by the weights."""
    if not 1 <= len(unit_id) <= 200:
        raise InvalidInput("a unit id (user or anonymous id) is 1 to 200 characters")
    control = str(experiment.variants[0]["key"])
    if experiment.status != "running":
        return Assignment(experiment.key, control, False)
    if experiment.holdout and _unit_hash("holdout", unit_id) < experiment.holdout:
        return Assignment(experiment.key, control, False)
    point, cumulative = _unit_hash(experiment.key, unit_id), 0.0
    for variant in experiment.variants:
        cumulative += float(variant["weight"])
        if point < cumulative:
            return Assignment(experiment.key, str(variant["key"]), True)
    return Assignment(experiment.key, str(experiment.variants[-1]["key"]), True)


@dataclass
class MetricResult:
    """One metric's comparison of each variant against control."""

    metric: dict[str, Any]
    summaries: dict[str, stats.Summary]
    comparisons: dict[str, stats.Comparison]
    bayesian: dict[str, stats.BayesianResult]
    sequential: dict[str, stats.ConfidenceSequence]
    adjusted_p: dict[str, float] = field(default_factory=dict)
    cuped_reduction: float | None = None


@dataclass
class Results:
    """An experiment's exposures, SRM check and metric results."""

    experiment: Experiment
    exposures: dict[str, int]
    srm: stats.SampleRatio
    goal: MetricResult | None
    guardrails: list[MetricResult]
    sample_size_per_variant: int | None


def _exposures(session: Session, experiment: Experiment) -> dict[Any, tuple[str, datetime]]:
    """Each exposed person's first (variant, time)."""
    variants = {str(v["key"]) for v in experiment.variants}
    first: dict[Any, tuple[str, datetime]] = {}
    rows = session.execute(
        select(Event.customer_id, Event.anonymous_index, Event.properties, Event.occurred_at)
        .where(Event.name == EXPOSURE_EVENT, Event.occurred_at >= experiment.started_at)
        .order_by(Event.occurred_at, Event.id)
    )
    for customer_id, anonymous, properties, at in rows:
        properties = properties or {}
        if str(properties.get("experiment_id")) != experiment.key:
            continue
        variant = str(properties.get("variation_id"))
        person = customer_id if customer_id is not None else anonymous
        if person is not None and variant in variants and person not in first:
            first[person] = (variant, at)
    return first


def _values(
    session: Session,
    experiment: Experiment,
    metric: dict[str, Any],
    exposed: dict[Any, tuple[str, datetime]],
) -> tuple[dict[Any, float], dict[Any, float]]:
    """Each exposed person's metric after exposure, and (revenue) before the experiment."""
    after: dict[Any, float] = defaultdict(float)
    before: dict[Any, float] = defaultdict(float)
    if metric["kind"] == "event":
        rows = session.execute(
            select(Event.customer_id, Event.anonymous_index, Event.occurred_at).where(
                Event.name == metric["event"], Event.occurred_at >= experiment.started_at
            )
        )
        for customer_id, anonymous, at in rows:
            person = customer_id if customer_id is not None else anonymous
            if person in exposed and at >= exposed[person][1]:
                after[person] = 1.0
        return after, before
    customers = [p for p in exposed if isinstance(p, uuid.UUID)]
    for start in range(0, len(customers), 500):
        chunk = customers[start : start + 500]
        for customer_id, at, net in session.execute(
            select(Order.customer_id, Order.placed_at, Order.total - Order.refunded_amount).where(
                Order.customer_id.in_(chunk),
                Order.placed_at >= experiment.started_at - PRE_PERIOD,
            )
        ):
            if at >= exposed[customer_id][1]:
                after[customer_id] += float(net)
            elif at < experiment.started_at:
                before[customer_id] += float(net)
    return after, before


def _metric(
    session: Session,
    experiment: Experiment,
    metric: dict[str, Any],
    exposed: dict[Any, tuple[str, datetime]],
    alpha: float,
) -> MetricResult:
    after, before = _values(session, experiment, metric, exposed)
    keys = [str(v["key"]) for v in experiment.variants]
    per_variant: dict[str, list[Any]] = {k: [] for k in keys}
    for person, (variant, _) in exposed.items():
        per_variant[variant].append(person)
    control = keys[0]
    result = MetricResult(metric, {}, {}, {}, {})
    conversions = metric["kind"] == "event"
    for k in keys:
        result.summaries[k] = stats.Summary.of_values([after.get(p, 0.0) for p in per_variant[k]])
    adjusted = dict(result.summaries)
    if not conversions and any(before.values()) and all(len(per_variant[k]) >= 2 for k in keys):
        for k in keys[1:]:
            cuped = stats.cuped(
                [after.get(p, 0.0) for p in per_variant[control]],
                [before.get(p, 0.0) for p in per_variant[control]],
                [after.get(p, 0.0) for p in per_variant[k]],
                [before.get(p, 0.0) for p in per_variant[k]],
            )
            adjusted[control], adjusted[k] = cuped.control, cuped.variant
            result.cuped_reduction = cuped.variance_reduction
    for k in keys[1:]:
        a, b = adjusted[control], adjusted[k]
        if min(a.n, b.n) < 2:
            continue
        if conversions:
            result.comparisons[k] = stats.two_proportion_ztest(a, b, alpha=alpha)
            result.bayesian[k] = stats.bayesian_proportions(a, b)
        else:
            result.comparisons[k] = stats.welch_ttest(a, b, alpha=alpha)
            result.bayesian[k] = stats.bayesian_means(a, b)
        if a.variance + b.variance > 0:
            result.sequential[k] = stats.confidence_sequence(
                a, b, alpha=alpha, planned_n=experiment.planned_users
            )
    return result


def results(session: Session, key: str, *, alpha: float = 0.05) -> Results:
    """The experiment's results so far: exposures per variant, SRM, goal and guardrails."""
    experiment = get(session, key)
    exposed = _exposures(session, experiment)
    keys = [str(v["key"]) for v in experiment.variants]
    counts = {k: 0 for k in keys}
    for variant, _ in exposed.values():
        counts[variant] += 1
    srm = stats.sample_ratio_mismatch(
        [counts[k] for k in keys], [float(v["weight"]) for v in experiment.variants]
    )
    metrics = [experiment.goal, *experiment.guardrails]
    computed = [_metric(session, experiment, m, exposed, alpha) for m in metrics]
    pairs = [(i, k) for i, r in enumerate(computed) for k in r.comparisons]
    adjusted = stats.adjust_p_values([computed[i].comparisons[k].p_value for i, k in pairs])
    for (i, k), p in zip(pairs, adjusted, strict=True):
        computed[i].adjusted_p[k] = p
    size = None
    goal = computed[0]
    base = goal.summaries[keys[0]]
    if experiment.goal["kind"] == "event" and 0 < base.mean < 1 and base.mean * 1.1 < 1:
        size = stats.sample_size_proportions(base.mean, 0.1, alpha=alpha)
    elif base.n >= 2 and base.variance > 0 and base.mean != 0:
        size = stats.sample_size(0.1 * abs(base.mean) / base.variance**0.5, alpha=alpha)
    return Results(experiment, counts, srm, goal, computed[1:], size)

"""What the dashboards and ``/api/v1/analytics/...`` show: the same numbers for both, as
plain JSON-ready data, with small groups suppressed.

Analysts see aggregates only: every number here counts people or sums money over a group, and
a group of fewer than ``analytics.min_group_size`` people (a cohort, a funnel breakdown value,
a variant) has its numbers withheld (``None``, shown as "suppressed"), so that no row
describes one identifiable person. Whole-population KPIs of a range are shown as they are:
they are the totals the business reports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from clientvault.analytics import cohorts, experiments, funnels, heatmaps, kpis, lifecycle, paths
from clientvault.analytics.lifetime_value import latest_fit

TILES: tuple[tuple[str, str, str], ...] = (
    # (KPI, label, format)
    ("visitors", "Visitors", "count"),
    ("conversion_rate", "Conversion rate", "percent"),
    ("revenue", "Revenue (net)", "money"),
    ("orders", "Orders", "count"),
    ("aov", "Average order value", "money"),
    ("repeat_rate", "Repeat-purchase rate", "percent"),
    ("retention", "Retention", "percent"),
    ("churn", "Churn", "percent"),
    ("csat", "CSAT", "percent"),
    ("refund_rate", "Refunds rate", "percent"),
)


def kpi_tiles(session: Session, filters: kpis.Filters) -> list[dict[str, Any]]:
    """Each KPI of the range with its value in the previous period of the same length and
    the relative change, and its written definition."""
    now = kpis.compute(session, filters)
    before = kpis.compute(session, filters.previous())
    tiles = []
    for name, label, kind in TILES:
        value, previous = getattr(now, name), getattr(before, name)
        change = (value - previous) / abs(previous) if value is not None and previous else None
        tiles.append(
            {
                "kpi": name,
                "label": label,
                "format": kind,
                "value": value,
                "previous": previous,
                "change": change,
                "definition": kpis.DEFINITIONS[name],
            }
        )
    return tiles


def series(
    session: Session, filters: kpis.Filters, grain: str, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """The time series, one row per bucket (start in the installation's zone)."""
    return [
        {
            "start": point.start.astimezone(zone).date().isoformat(),
            "visitors": point.visitors,
            "conversion_rate": point.converted / point.visitors if point.visitors else None,
            "orders": point.orders,
            "revenue": round(point.revenue, 2),
            "csat": point.csat_satisfied / point.csat_answers if point.csat_answers else None,
        }
        for point in kpis.series(session, filters, grain, zone)
    ]


def funnel(
    session: Session, spec: funnels.FunnelSpec, filters: kpis.Filters, min_group: int
) -> dict[str, Any]:
    """The funnel's steps, time to convert and breakdown (small breakdown groups withheld)."""
    result = funnels.compute(session, spec, filters)
    breakdown = []
    for value, counts in sorted(result.breakdown.items(), key=lambda item: -item[1][0]):
        small = counts[0] < min_group
        breakdown.append({"value": value, "suppressed": small, "people": None if small else counts})
    return {
        "steps": [step.__dict__ for step in result.steps],
        "median_seconds": result.median_seconds,
        "converted": len(result.seconds_to_convert),
        "seconds_to_convert": result.seconds_to_convert
        if len(result.seconds_to_convert) >= min_group
        else [],
        "breakdown": breakdown,
        "mode": spec.mode,
        "window_hours": spec.window.total_seconds() / 3600,
    }


def _withheld(count: int, min_group: int) -> int | None:
    """A count of people, or ``None`` when it describes a group smaller than the minimum
    (zero is shown: it describes nobody)."""
    return None if 0 < count < min_group else count


def path_summary(
    session: Session, spec: paths.PathSpec, filters: kpis.Filters, min_group: int
) -> dict[str, Any]:
    """The paths around an event: the anchor's people and each step's edges; an edge taken
    by fewer people than the minimum group size is left out (counted in ``withheld``)."""
    result = paths.compute(session, spec, filters)
    shown = [e.__dict__ for e in result.edges if e.people >= min_group]
    return {
        "event": spec.event,
        "direction": spec.direction,
        "steps": spec.steps,
        "people": _withheld(result.people, min_group),
        "edges": shown,
        "withheld": len(result.edges) - len(shown),
    }


def lifecycle_series(
    session: Session,
    filters: kpis.Filters,
    grain: str,
    zone: ZoneInfo,
    event: str | None,
    min_group: int,
) -> list[dict[str, Any]]:
    """New, returning, resurrecting and dormant people per period (small counts withheld)."""
    return [
        {
            "start": period.start.astimezone(zone).date().isoformat(),
            **{s: _withheld(getattr(period, s), min_group) for s in lifecycle.STATUSES},
        }
        for period in lifecycle.compute(session, filters, grain, zone, event)
    ]


def cohort_matrix(
    session: Session,
    spec: cohorts.CohortSpec,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    min_group: int,
    customer_ids: kpis.Customers | None = None,
) -> list[dict[str, Any]]:
    """The cohort matrix; cohorts smaller than the minimum group size are withheld."""
    rows = []
    for cohort in cohorts.compute(session, spec, start, end, zone, customer_ids):
        small = cohort.size < min_group
        rows.append(
            {
                "cohort": cohort.start.astimezone(zone).date().isoformat(),
                "size": None if small else cohort.size,
                "suppressed": small,
                "retention": None if small else cohort.retention,
                "revenue": None if small else cohort.revenue,
                "cumulative_revenue_per_customer": None
                if small
                else cohort.cumulative_revenue_per_customer,
            }
        )
    return rows


def clv_summary(session: Session) -> dict[str, Any] | None:
    """The latest CLV fit: parameters, log-likelihoods and calibration bins (small bins
    withheld by the caller's view: bins are counts of customers, shown only when ≥ 1)."""
    fit = latest_fit(session)
    if fit is None:
        return None
    return {
        "fitted_at": fit.fitted_at.isoformat(),
        "customers": fit.customers,
        "bgnbd": fit.bgnbd,
        "gamma_gamma": fit.gamma_gamma,
        "calibration": fit.calibration,
        "horizon_days": fit.horizon_days,
        "calibration_end": fit.calibration_end.isoformat() if fit.calibration_end else None,
    }


def experiment_summary(session: Session, key: str, min_group: int) -> dict[str, Any]:
    """An experiment's definition and results as JSON-ready data."""
    result = experiments.results(session, key)
    experiment = result.experiment

    def metric(data: experiments.MetricResult | None) -> dict[str, Any] | None:
        if data is None:
            return None
        variants = []
        for k, summary in data.summaries.items():
            small = summary.n < min_group
            comparison = data.comparisons.get(k)
            bayes = data.bayesian.get(k)
            sequence = data.sequential.get(k)
            variants.append(
                {
                    "variant": k,
                    "users": None if small else summary.n,
                    "mean": None if small else summary.mean,
                    "suppressed": small,
                    "comparison": None if small or comparison is None else comparison.__dict__,
                    "adjusted_p": data.adjusted_p.get(k),
                    "chance_to_win": None if small or bayes is None else bayes.chance_to_win,
                    "expected_loss": None
                    if small or bayes is None
                    else bayes.expected_loss_variant,
                    "sequential": None if small or sequence is None else sequence.__dict__,
                }
            )
        return {
            "metric": data.metric,
            "variants": variants,
            "cuped_reduction": data.cuped_reduction,
        }

    return {
        "key": experiment.key,
        "name": experiment.name,
        "status": experiment.status,
        "variants": experiment.variants,
        "holdout": experiment.holdout,
        "started_at": experiment.started_at.isoformat(),
        "exposures": result.exposures,
        "srm": {
            "p_value": result.srm.p_value,
            "mismatch": result.srm.mismatch,
            "statistic": result.srm.statistic,
        },
        "goal": metric(result.goal),
        "guardrails": [metric(g) for g in result.guardrails],
        "sample_size_per_variant": result.sample_size_per_variant,
    }


def heatmap(
    session: Session, filters: kpis.Filters, path: str | None, viewport: str, min_group: int
) -> dict[str, Any]:
    """The clicked pages of the range and, for ``path`` (default: the most clicked), its
    click density, rage and dead clicks (cells of fewer people than the minimum withheld)."""
    pages = heatmaps.pages(session, filters)
    chosen = path or (pages[0][0] if pages else None)
    if chosen is None:
        return {"pages": [], "path": None}
    result = heatmaps.compute(session, filters, chosen, viewport, min_group)
    scrolled = heatmaps.scroll_depth(session, filters, chosen, viewport)
    small = scrolled.people < min_group
    scroll = {
        "people": None if small else scrolled.people,
        "depths": list(scrolled.depths),
        "reached": None if small else [_withheld(n, min_group) for n in scrolled.reached],
    }
    return {
        "pages": [{"path": p, "clicks": n} for p, n in pages],
        **result.__dict__,
        "scroll": scroll,
    }


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (what every dashboard table downloads as); values that a spreadsheet
    would run as a formula are prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                f"'{v}"
                if isinstance(v, str) and v[:1] in ("=", "+", "-", "@")
                else ""
                if v is None
                else v
                for v in row
            ]
        )
    return out.getvalue()

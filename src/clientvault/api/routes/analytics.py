"""Analytics over the API: the dashboards' numbers (``analytics:read``), experiments (create
with ``campaigns:manage``) and the public assignment call clients make with a write key.

Every figure is an aggregate; groups under ``analytics.min_group_size`` are withheld, as on
the console (``analytics.dashboard``)."""

from __future__ import annotations

import base64
import binascii
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from clientvault.analytics import cohorts, dashboard, experiments, funnels, kpis, paths
from clientvault.errors import InvalidInput, PermissionDenied, Unauthenticated
from clientvault.http.analytics_filters import dashboard_filters
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.ingest.sources import authenticate

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
public = APIRouter(prefix="/api/v1/experiments", tags=["analytics"])
ReadAnalytics = Annotated[Caller, Depends(Authorize("analytics:read"))]
ManageExperiments = Annotated[Caller, Depends(Authorize("campaigns:manage"))]
First = Annotated[date | None, Query(alias="from", description="First day (YYYY-MM-DD).")]
Last = Annotated[date | None, Query(alias="to", description="Last day, included.")]
Source = Annotated[str | None, Query(max_length=64, description="Only this tracking source.")]


Segment = Annotated[
    str | None, Query(max_length=63, description="Only this segment's members (its slug).")
]


def _filters(
    settings: SettingsDep,
    store: StoreDep,
    first: First = None,
    last: Last = None,
    source: Source = None,
    segment: Segment = None,
) -> kpis.Filters:
    minimum = settings.analytics.min_group_size
    return dashboard_filters(store, settings.zone, first, last, source, segment, minimum)


Range = Annotated[kpis.Filters, Depends(_filters)]


@router.get("/kpis")
def read_kpis(caller: ReadAnalytics, store: StoreDep, filters: Range) -> dict[str, Any]:
    """Each KPI of the range, the previous period's value, the change and its definition."""
    with store.read_sessions() as session:
        return {"tiles": dashboard.kpi_tiles(session, filters)}


@router.get("/series")
def read_series(
    caller: ReadAnalytics,
    store: StoreDep,
    settings: SettingsDep,
    filters: Range,
    grain: Literal["day", "week", "month"] = "day",
) -> dict[str, Any]:
    """Visitors, conversion, orders, revenue and CSAT per day, week or month."""
    with store.read_sessions() as session:
        return {"grain": grain, "points": dashboard.series(session, filters, grain, settings.zone)}


@router.get("/funnel")
def read_funnel(
    caller: ReadAnalytics,
    store: StoreDep,
    settings: SettingsDep,
    filters: Range,
    steps: Annotated[str, Query(max_length=2000)] = ",".join(funnels.DEFAULT_STEPS),
    mode: Literal["ordered", "strict", "unordered"] = "ordered",
    window_hours: Annotated[float, Query(gt=0, le=8760)] = 168,
    exclusions: Annotated[str, Query(max_length=2000)] = "",
    breakdown: Annotated[str | None, Query(max_length=200)] = None,
    attribution: Literal["first", "last"] = "first",
) -> dict[str, Any]:
    """A funnel over comma-separated steps, within a conversion window."""
    spec = funnels.FunnelSpec(
        steps=funnels.parse_steps(steps),
        window=timedelta(hours=window_hours),
        mode=mode,
        exclusions=funnels.parse_steps(exclusions),
        breakdown=breakdown or None,
        attribution=attribution,
    )
    with store.read_sessions() as session:
        return dashboard.funnel(session, spec, filters, settings.analytics.min_group_size)


@router.get("/paths")
def read_paths(
    caller: ReadAnalytics,
    store: StoreDep,
    settings: SettingsDep,
    filters: Range,
    event: Annotated[str, Query(min_length=1, max_length=200)] = "Product Viewed",
    direction: Literal["after", "before"] = "after",
    steps: Annotated[int, Query(ge=1, le=paths.MAX_STEPS)] = 3,
) -> dict[str, Any]:
    """What people do after (or before) their first ``event`` of the range, step by step."""
    spec = paths.PathSpec(event, direction, steps)
    with store.read_sessions() as session:
        return dashboard.path_summary(session, spec, filters, settings.analytics.min_group_size)


@router.get("/lifecycle")
def read_lifecycle(
    caller: ReadAnalytics,
    store: StoreDep,
    settings: SettingsDep,
    filters: Range,
    grain: Literal["day", "week", "month"] = "week",
    event: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """New, returning, resurrecting and dormant people per period (any event, or ``event``)."""
    with store.read_sessions() as session:
        periods = dashboard.lifecycle_series(
            session,
            filters,
            grain,
            settings.zone,
            event or None,
            settings.analytics.min_group_size,
        )
    return {"grain": grain, "event": event or None, "periods": periods}


@router.get("/cohorts")
def read_cohorts(
    caller: ReadAnalytics,
    store: StoreDep,
    settings: SettingsDep,
    filters: Range,
    grain: Literal["month", "week"] = "month",
    activity: Literal["any", "ordered"] = "ordered",
    cumulative: bool = False,
) -> dict[str, Any]:
    """Acquisition cohorts by periods: retention, revenue and cumulative revenue curves."""
    spec = cohorts.CohortSpec(grain=grain, activity=activity, cumulative=cumulative)
    with store.read_sessions() as session:
        rows = dashboard.cohort_matrix(
            session,
            spec,
            filters.start,
            filters.end,
            settings.zone,
            settings.analytics.min_group_size,
            filters.customer_ids,
        )
    return {"grain": grain, "activity": activity, "cumulative": cumulative, "cohorts": rows}


@router.get("/heatmap")
def read_heatmap(
    caller: ReadAnalytics,
    store: StoreDep,
    settings: SettingsDep,
    filters: Range,
    path: Annotated[str | None, Query(max_length=500)] = None,
    viewport: Literal["mobile", "tablet", "desktop"] = "desktop",
) -> dict[str, Any]:
    """Clicked pages, and one page's click density grid, rage and dead clicks."""
    with store.read_sessions() as session:
        return dashboard.heatmap(
            session, filters, path, viewport, settings.analytics.min_group_size
        )


@router.get("/clv")
def read_clv(caller: ReadAnalytics, store: StoreDep) -> dict[str, Any]:
    """The latest CLV fit: parameters, log-likelihoods, calibration bins."""
    with store.read_sessions() as session:
        return {"fit": dashboard.clv_summary(session)}


class MetricIn(BaseModel):
    """A goal or guardrail metric."""

    kind: Literal["event", "revenue"]
    event: str | None = Field(default=None, max_length=200)


class VariantIn(BaseModel):
    """A variant and its weight."""

    key: str = Field(min_length=1, max_length=64)
    weight: float = Field(gt=0, le=1000)


class ExperimentIn(BaseModel):
    """A new experiment."""

    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    variants: list[VariantIn] = Field(min_length=2, max_length=10)
    goal: MetricIn
    guardrails: list[MetricIn] = Field(default_factory=list, max_length=10)
    holdout: float = Field(default=0.0, ge=0, lt=0.5)
    planned_users: int = Field(default=1000, ge=10, le=100_000_000)


@router.get("/experiments")
def list_experiments(caller: ReadAnalytics, store: StoreDep) -> dict[str, Any]:
    """Every experiment, newest first."""
    with store.read_sessions() as session:
        return {
            "experiments": [
                {
                    "key": e.key,
                    "name": e.name,
                    "status": e.status,
                    "variants": e.variants,
                    "goal": e.goal,
                    "started_at": e.started_at.isoformat(),
                }
                for e in experiments.listing(session)
            ]
        }


@router.post("/experiments", status_code=201)
def create_experiment(
    body: ExperimentIn, caller: ManageExperiments, store: StoreDep
) -> dict[str, Any]:
    """Create a running experiment (the first variant is the control)."""
    with store.sessions.begin() as session:
        experiment = experiments.create(
            session,
            key=body.key,
            name=body.name,
            description=body.description,
            variants=[(v.key, v.weight) for v in body.variants],
            goal=body.goal.model_dump(exclude_none=True),
            guardrails=[m.model_dump(exclude_none=True) for m in body.guardrails],
            holdout=body.holdout,
            planned_users=body.planned_users,
            by=caller.principal,
        )
        return {"key": experiment.key, "variants": experiment.variants}


@router.get("/experiments/{key}/results")
def experiment_results(
    key: str,
    caller: ReadAnalytics,
    store: StoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Exposures, SRM check, goal and guardrail results with intervals."""
    with store.read_sessions() as session:
        return dashboard.experiment_summary(session, key, settings.analytics.min_group_size)


def _write_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            return base64.b64decode(header[6:].strip(), validate=True).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
    key = request.query_params.get("writeKey")
    if key:
        return key
    raise Unauthenticated("a write key is required (HTTP Basic user or writeKey)")


@public.get("/{key}/assignment")
async def assignment(
    key: str,
    request: Request,
    response: Response,
    store: StoreDep,
    anonymous_id: Annotated[str | None, Query(alias="anonymous_id", max_length=200)] = None,
    user_id: Annotated[str | None, Query(alias="user_id", max_length=200)] = None,
) -> dict[str, Any]:
    """The variant a visitor sees, for websites and apps (authenticated by a source's write
    key, like tracking calls): deterministic in the experiment and the user or anonymous id.
    The client then sends ``Experiment Viewed`` with ``experiment_id`` and ``variation_id``."""
    source = await run_in_threadpool(authenticate, store.engine, write_key=_write_key(request))
    if source is None:
        raise Unauthenticated("unknown or revoked write key")
    origin = request.headers.get("origin")
    if origin is not None:  # a browser's call (the snippet): only from the source's sites
        if not source.allows(origin):
            raise PermissionDenied("this write key does not accept calls from this origin")
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    unit = user_id or anonymous_id
    if not unit:
        raise InvalidInput("give anonymous_id or user_id")

    def find() -> experiments.Assignment:
        with store.read_sessions() as session:
            return experiments.assign(experiments.get(session, key), unit)

    chosen = await run_in_threadpool(find)
    return {
        "experiment_id": chosen.experiment,
        "variation_id": chosen.variant,
        "in_experiment": chosen.in_experiment,
    }

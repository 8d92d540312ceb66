"""The analytics dashboards (``/console/analytics``), for ``analytics:read``: KPI tiles
against the previous period, time series, funnel, cohort heatmap, CLV calibration and the
experiments with their results. Filters live in the URL (a dashboard is a link to share);
every table downloads as CSV; the numbers are those of ``/api/v1/analytics/...``.

Charts are drawn by plotly.js from the installed ``plotly`` package, served from here (no
CDN), fed by JSON data blocks the page carries (``type="application/json"``, not executed,
so the strict Content-Security-Policy holds)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from clientvault.analytics import cohorts, dashboard, experiments, funnels, paths
from clientvault.errors import ClientVaultError, InvalidInput
from clientvault.http.analytics_filters import dashboard_filters, segment_choices
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.settings import Settings
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/analytics", include_in_schema=False)
ReadAnalytics = Annotated[Caller, Depends(Authorize("analytics:read"))]
ManageExperiments = Annotated[Caller, Depends(Authorize("campaigns:manage"))]
TABLES = ("kpis", "series", "funnel", "paths", "lifecycle", "cohorts", "calibration")


@cache
def _plotly_source() -> bytes:
    return files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()


#: plotly.js's base style rules, as its bundle holds them (``{"X,X div": 'direction:ltr;…'}``,
#: X standing for ``.js-plotly-plot .plotly`` and Y for ``.plotly-notifier``).
_RULES = re.compile(r"""=(\{"X,X div":.*?\});for\(\w+ in """, re.S)
_RULE = re.compile(r""""([^"]+)":(?:'([^']*)'|"([^"]*)")""")
_INJECTED_ID = re.compile(r'getElementById\("([0-9a-f]{64})"\)')


@cache
def _plotly_css() -> str:
    """plotly.js's own base stylesheet as a file. The bundle inserts these rules into a
    ``<style>`` element it creates, which the console's CSP (``style-src 'self'``) forbids;
    plotly.js skips that when the page already has ``#plotly.js-style-global.no-inline-styles``
    (its documented strict-CSP mode), so the page links this instead."""
    found = _RULES.search(_plotly_source().decode("utf-8", "replace"))
    if found is None:
        return ""
    rules = []
    for selector, single, double in _RULE.findall(found.group(1)):
        full = re.sub(r"^,", " ,", selector).replace("X", ".js-plotly-plot .plotly")
        rules.append(f"{full.replace('Y', '.plotly-notifier')}{{{single or double}}}")
    return "\n".join(rules) + "\n"


@cache
def injected_style_ids() -> tuple[str, ...]:
    """Ids of the ``<style>`` elements the bundle adds unless one exists (the map traces'
    stylesheet): the pages put an empty element with each id first, so no inline style is
    attempted (the dashboards draw no maps)."""
    return tuple(_INJECTED_ID.findall(_plotly_source().decode("utf-8", "replace")))


@router.get("/plotly.css", name="console_plotly_css")
def plotly_css() -> Response:
    """plotly.js's base styles (from the installed package's bundle) as a stylesheet."""
    return Response(
        _plotly_css(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/plotly.min.js", name="console_plotly")
def plotly_js() -> Response:
    """plotly.js as shipped in the installed ``plotly`` package."""
    return Response(
        _plotly_source(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


class DashboardQuery:
    """The dashboard's filters, from the URL."""

    def __init__(
        self,
        settings: SettingsDep,
        store: StoreDep,
        first: Annotated[date | None, Query(alias="from")] = None,
        last: Annotated[date | None, Query(alias="to")] = None,
        source: Annotated[str | None, Query(max_length=64)] = None,
        segment: Annotated[str | None, Query(max_length=63)] = None,
        grain: Literal["day", "week", "month"] = "day",
        steps: Annotated[str, Query(max_length=2000)] = ",".join(funnels.DEFAULT_STEPS),
        mode: Literal["ordered", "strict", "unordered"] = "ordered",
        window_hours: Annotated[float, Query(gt=0, le=8760)] = 168,
        breakdown: Annotated[str | None, Query(max_length=200)] = None,
        activity: Literal["any", "ordered"] = "ordered",
        cumulative: bool = False,
        page: Annotated[str | None, Query(max_length=500)] = None,
        viewport: Literal["mobile", "tablet", "desktop"] = "desktop",
        path_event: Annotated[str, Query(min_length=1, max_length=200)] = "Product Viewed",
        path_direction: Literal["after", "before"] = "after",
        path_steps: Annotated[int, Query(ge=1, le=paths.MAX_STEPS)] = 3,
    ) -> None:
        minimum = settings.analytics.min_group_size
        self.filters = dashboard_filters(
            store, settings.zone, first, last, source, segment, minimum
        )
        self.first = self.filters.start.date()
        self.last = (self.filters.end - timedelta(days=1)).date()
        self.source = source or ""
        self.segment = segment or ""
        self.grain = grain
        self.funnel = funnels.FunnelSpec(
            steps=funnels.parse_steps(steps),
            window=timedelta(hours=window_hours),
            mode=mode,
            breakdown=breakdown or None,
        )
        self.steps = steps
        self.window_hours = window_hours
        self.breakdown = breakdown or ""
        self.cohort = cohorts.CohortSpec("month", activity, cumulative)
        self.page = page or ""
        self.viewport = viewport
        self.path = paths.PathSpec(path_event, path_direction, path_steps)

    def params(self) -> dict[str, str]:
        """The filters as URL parameters (for the CSV links)."""
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "source": self.source,
            "segment": self.segment,
            "grain": self.grain,
            "steps": self.steps,
            "mode": self.funnel.mode,
            "window_hours": f"{self.window_hours:g}",
            "breakdown": self.breakdown,
            "activity": self.cohort.activity,
            "cumulative": "true" if self.cohort.cumulative else "false",
            "page": self.page,
            "viewport": self.viewport,
            "path_event": self.path.event,
            "path_direction": self.path.direction,
            "path_steps": str(self.path.steps),
        }


Filters = Annotated[DashboardQuery, Depends()]


def _data(store: Any, settings: Settings, q: DashboardQuery) -> dict[str, Any]:
    minimum = settings.analytics.min_group_size
    cohort_start = q.filters.end - timedelta(days=365)
    with store.read_sessions() as session:
        return {
            "tiles": dashboard.kpi_tiles(session, q.filters),
            "series": dashboard.series(session, q.filters, q.grain, settings.zone),
            "funnel": dashboard.funnel(session, q.funnel, q.filters, minimum),
            "paths": dashboard.path_summary(session, q.path, q.filters, minimum),
            "lifecycle": dashboard.lifecycle_series(
                session, q.filters, q.grain, settings.zone, None, minimum
            ),
            "cohorts": dashboard.cohort_matrix(
                session,
                q.cohort,
                min(cohort_start, q.filters.start),
                q.filters.end,
                settings.zone,
                minimum,
                q.filters.customer_ids,
            ),
            "clv": dashboard.clv_summary(session),
            "heatmap": dashboard.heatmap(session, q.filters, q.page or None, q.viewport, minimum),
            "experiments": [
                {"key": e.key, "name": e.name, "status": e.status}
                for e in experiments.listing(session)
            ],
            "segments": segment_choices(session),
            "min_group_size": minimum,
        }


@router.get("", response_class=HTMLResponse, name="console_analytics")
def analytics_page(
    request: Request, caller: ReadAnalytics, store: StoreDep, settings: SettingsDep, q: Filters
) -> Response:
    """The dashboard."""
    data = _data(store, settings, q)
    return render(
        request,
        "analytics/dashboard.html",
        {
            "title": "Analytics",
            "q": q,
            "data": data,
            "timezone": settings.timezone,
            "params": q.params(),
            "segment_name": dict(data["segments"]).get(q.segment, ""),
            "plotly_guards": injected_style_ids(),
            "can_create_experiments": caller.principal.can("campaigns:manage"),
        },
    )


def _rows(table: str, data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    if table == "kpis":
        return ["kpi", "value", "previous", "change", "definition"], [
            [t["kpi"], t["value"], t["previous"], t["change"], t["definition"]]
            for t in data["tiles"]
        ]
    if table == "series":
        header = ["start", "visitors", "conversion_rate", "orders", "revenue", "csat"]
        return header, [[p[h] for h in header] for p in data["series"]]
    if table == "funnel":
        return ["step", "people", "conversion_from_start", "drop_off"], [
            [s["name"], s["people"], s["conversion_from_start"], s["drop_off"]]
            for s in data["funnel"]["steps"]
        ]
    if table == "paths":
        return ["step", "from", "to", "people"], [
            [e["step"], e["source"], e["target"], e["people"]] for e in data["paths"]["edges"]
        ]
    if table == "lifecycle":
        header = ["start", "new", "returning", "resurrecting", "dormant"]
        return header, [[p[h] for h in header] for p in data["lifecycle"]]
    if table == "cohorts":
        width = max((len(c["retention"] or []) for c in data["cohorts"]), default=0)
        return ["cohort", "size", *[f"period_{k}" for k in range(width)]], [
            [
                c["cohort"],
                c["size"] if not c["suppressed"] else "suppressed",
                *(c["retention"] or []),
            ]
            for c in data["cohorts"]
        ]
    clv = data["clv"] or {"calibration": []}
    return ["repeat_purchases", "customers", "predicted", "actual"], [
        [b["frequency"], b["customers"], b["predicted"], b["actual"]] for b in clv["calibration"]
    ]


@router.get("/export/{table}.csv", name="console_analytics_csv")
def export_csv(
    table: Literal["kpis", "series", "funnel", "paths", "lifecycle", "cohorts", "calibration"],
    caller: ReadAnalytics,
    store: StoreDep,
    settings: SettingsDep,
    q: Filters,
) -> Response:
    """One of the dashboard's tables as CSV, for the filters in the URL."""
    header, rows = _rows(table, _data(store, settings, q))
    return Response(
        dashboard.to_csv(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="analytics-{table}.csv"',
            "Cache-Control": "no-store",
        },
    )


_NEW_EXPERIMENT = {
    "key": "",
    "name": "",
    "description": "",
    "variants": "control:1, treatment:1",
    "goal_kind": "event",
    "goal_event": "Order Completed",
    "guardrails": "",
    "holdout_percent": "0",
    "planned_users": "1000",
}


def parse_variants(text: str) -> list[tuple[str, float]]:
    """Variants written ``key:weight`` (or just ``key``, weight 1), separated by commas or
    lines; the first is the control."""
    variants = []
    for item in text.replace("\n", ",").split(","):
        key, _, weight = item.strip().partition(":")
        if not key.strip():
            continue
        try:
            variants.append((key.strip(), float(weight) if weight.strip() else 1.0))
        except ValueError:
            raise InvalidInput(f"the weight of variant {key.strip()!r} is not a number") from None
    return variants


def _number(form: dict[str, str], name: str, label: str) -> float:
    try:
        return float(form.get(name, "") or "0")
    except ValueError:
        raise InvalidInput(f"{label} is a number") from None


def _experiment_form(
    request: Request, caller: Caller, form: dict[str, str], error: str | None, status: int = 200
) -> Response:
    return render(
        request,
        "analytics/experiment_new.html",
        {
            "title": "New experiment",
            "form": form,
            "error": error,
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
        },
        status_code=status,
    )


@router.get("/experiments/new", response_class=HTMLResponse, name="console_experiment_new")
def new_experiment(request: Request, caller: ManageExperiments) -> Response:
    """The form for a new experiment (variants and weights, goal, guardrails, holdout)."""
    return _experiment_form(request, caller, dict(_NEW_EXPERIMENT), None)


@router.post("/experiments/new", name="console_experiment_create")
async def create_experiment(
    request: Request, caller: ManageExperiments, store: StoreDep
) -> Response:
    """Create the experiment the form describes, or show the form again with the error."""
    raw = await request.form()
    form = {name: value for name, value in raw.items() if isinstance(value, str)}

    def save() -> str:
        kind = form.get("goal_kind", "event")
        goal = {"kind": kind, "event": form.get("goal_event", "").strip()}
        if kind != "event":
            goal = {"kind": kind}
        guardrails = [
            {"kind": "event", "event": name.strip()}
            for name in form.get("guardrails", "").split(",")
            if name.strip()
        ]
        with store.sessions.begin() as session:
            made = experiments.create(
                session,
                key=form.get("key", "").strip(),
                name=form.get("name", ""),
                description=form.get("description", ""),
                variants=parse_variants(form.get("variants", "")),
                goal=goal,
                guardrails=guardrails,
                holdout=_number(form, "holdout_percent", "the holdout share") / 100,
                planned_users=int(_number(form, "planned_users", "planned users")),
                by=caller.principal,
            )
            return made.key

    try:
        key = await run_in_threadpool(save)
    except ClientVaultError as exc:
        return _experiment_form(
            request, caller, {**_NEW_EXPERIMENT, **form}, exc.message, status=422
        )
    return RedirectResponse(f"{CONSOLE_PREFIX}/analytics/experiments/{key}", status_code=303)


@router.get("/experiments/{key}", response_class=HTMLResponse, name="console_experiment")
def experiment_page(
    key: str, request: Request, caller: ReadAnalytics, store: StoreDep, settings: SettingsDep
) -> Response:
    """An experiment's results: exposures, SRM status, intervals, chance to win."""
    with store.read_sessions() as session:
        summary = dashboard.experiment_summary(session, key, settings.analytics.min_group_size)
    return render(
        request,
        "analytics/experiment.html",
        {
            "title": f"Experiment {summary['name']}",
            "e": summary,
            "plotly_guards": injected_style_ids(),
        },
    )

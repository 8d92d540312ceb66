"""``clientvault analytics``: fit the CLV models, print KPIs."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import typer
from rich.table import Table

from clientvault.analytics import dashboard, experiments, funnels, kpis
from clientvault.analytics.lifetime_value import fit_and_score
from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.http.analytics_filters import dashboard_filters
from clientvault.settings import Settings
from clientvault.store.context import Store

analytics_app = typer.Typer(help="KPIs and customer lifetime value.", no_args_is_help=True)
clv_app = typer.Typer(help="Customer lifetime value models.", no_args_is_help=True)
analytics_app.add_typer(clv_app, name="clv")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


SegmentOption = typer.Option(
    None,
    "--segment",
    help="Only this segment's current members (slug); refused below the minimum group size.",
)


def _filters(
    store: Store,
    settings: Settings,
    start: str,
    end: str,
    *,
    source: str | None = None,
    segment: str | None = None,
) -> kpis.Filters:
    """The range of days, source and segment of a command, as the dashboard reads them."""
    return dashboard_filters(
        store,
        settings.zone,
        _day(start, "--from"),
        _day(end, "--to"),
        source,
        segment,
        settings.analytics.min_group_size,
    )


@clv_app.command("fit")
def fit_command(
    calibration_end: str | None = typer.Option(
        None,
        "--calibration-end",
        help="Fit on orders up to this day (YYYY-MM-DD, installation time zone, included) "
        "and check the predictions against the orders of the days after it.",
    ),
    observation_end: str | None = typer.Option(
        None, "--observation-end", help="Last day of the data to use (default: today)."
    ),
    horizon_days: int = typer.Option(
        365, "--horizon-days", min=1, max=3650, help="Days ahead the predicted CLV covers."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Fit BG/NBD (purchases) and Gamma-Gamma (spend) on the orders by maximum likelihood,
    print the parameters and log-likelihoods, and store each buyer's predicted CLV, expected
    purchases and probability of being alive as customer scores."""
    settings = load_settings(data_dir)
    zone = settings.zone
    calibration_day = _day(calibration_end, "--calibration-end")
    observation_day = _day(observation_end, "--observation-end")
    with opened_store(settings) as store, store.sessions.begin() as session:
        report = fit_and_score(
            session,
            zone,
            calibration_end=calibration_day,
            observation_end=observation_day,
            horizon_days=horizon_days,
        )
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
        return
    console.print(f"CLV fit #{report.fit_id} on {report.customers} customers")
    table = Table("model", "parameter", "value")
    for name, value in report.bgnbd.items():
        table.add_row("BG/NBD", name, f"{value:.6g}")
    for name, value in (report.gamma_gamma or {}).items():
        table.add_row("Gamma-Gamma", name, f"{value:.6g}")
    console.print(table)
    if report.calibration:
        check = Table(
            "repeat purchases",
            "customers",
            "predicted",
            "actual",
            title="Hold-out purchases by calibration frequency",
        )
        for row in report.calibration:
            check.add_row(
                row["frequency"],
                str(row["customers"]),
                f"{row['predicted']:.3f}",
                f"{row['actual']:.3f}",
            )
        console.print(check)
    console.print(f"{report.scores_written} customer scores written.")


@analytics_app.command("kpis")
def kpis_command(
    start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last day, included (YYYY-MM-DD)."),
    source: str | None = typer.Option(None, "--source", help="Only this tracking source."),
    segment: str | None = SegmentOption,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """The KPI set of a date range (definitions in ``analytics.kpis``)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        filters = _filters(store, settings, start, end, source=source, segment=segment)
        with store.read_sessions() as session:
            result = kpis.compute(session, filters)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    table = Table("KPI", "value", "definition")
    for name, definition in kpis.DEFINITIONS.items():
        value = getattr(result, name)
        table.add_row(name, "—" if value is None else f"{value:.6g}", definition)
    console.print(table)


experiments_app = typer.Typer(help="A/B experiments.", no_args_is_help=True)
analytics_app.add_typer(experiments_app, name="experiments")


@experiments_app.command("create")
def experiment_create(
    key: str = typer.Argument(..., help="The key clients send as experiment_id."),
    name: str = typer.Option(..., "--name", help="A name for people."),
    variant: list[str] = typer.Option(
        ..., "--variant", help="KEY or KEY=WEIGHT, repeated; the first is the control."
    ),
    goal_event: str | None = typer.Option(
        None, "--goal-event", help="Goal: people doing this event after exposure."
    ),
    holdout: float = typer.Option(0.0, "--holdout", min=0, max=0.49, help="Global holdout."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Create a running experiment (goal: the event given, else revenue per user)."""
    variants = []
    for item in variant:
        label, _, weight = item.partition("=")
        try:
            variants.append((label, float(weight) if weight else 1.0))
        except ValueError:
            raise typer.BadParameter(
                f"{item!r}: use KEY or KEY=WEIGHT", param_hint="--variant"
            ) from None
    goal = {"kind": "event", "event": goal_event} if goal_event else {"kind": "revenue"}
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.sessions.begin() as session:
        experiments.create(
            session, key=key, name=name, variants=variants, goal=goal, holdout=holdout
        )
    console.print(f"Experiment {key} is running.")


@experiments_app.command("results")
def experiment_results(
    key: str = typer.Argument(..., help="The experiment's key."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Exposures, sample-ratio check and the goal's comparison of each variant."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        summary = dashboard.experiment_summary(session, key, settings.analytics.min_group_size)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    srm = summary["srm"]
    console.print(
        f"{summary['name']} ({summary['status']}): exposures {summary['exposures']}; "
        f"SRM p = {srm['p_value']:.4g}{' MISMATCH' if srm['mismatch'] else ''}"
    )
    table = Table("variant", "users", "mean", "difference [95 % CI]", "p", "chance to win")
    for row in summary["goal"]["variants"]:
        c = row["comparison"]
        table.add_row(
            row["variant"],
            "suppressed" if row["suppressed"] else str(row["users"]),
            "—" if row["mean"] is None else f"{row['mean']:.4g}",
            "—" if c is None else f"{c['difference']:.4g} [{c['ci_low']:.4g}, {c['ci_high']:.4g}]",
            "—" if c is None else f"{c['p_value']:.4g}",
            "—" if row["chance_to_win"] is None else f"{row['chance_to_win']:.1%}",
        )
    console.print(table)


@analytics_app.command("funnel")
def funnel_command(
    start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last day, included (YYYY-MM-DD)."),
    steps: str = typer.Option(",".join(funnels.DEFAULT_STEPS), "--steps", help="Comma-separated."),
    mode: str = typer.Option("ordered", "--mode", help="ordered, strict or unordered."),
    window_hours: float = typer.Option(168, "--window-hours", min=0.02, max=8760),
    segment: str | None = SegmentOption,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """A funnel's people per step (definitions in ``analytics.funnels``)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        filters = _filters(store, settings, start, end, segment=segment)
        spec = funnels.FunnelSpec(
            steps=funnels.parse_steps(steps), mode=mode, window=timedelta(hours=window_hours)
        )
        with store.read_sessions() as session:
            result = dashboard.funnel(session, spec, filters, settings.analytics.min_group_size)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table("step", "people", "from start", "drop-off")
    for step in result["steps"]:
        share = step["conversion_from_start"]
        table.add_row(
            step["name"],
            str(step["people"]),
            "—" if share is None else f"{share:.1%}",
            str(step["drop_off"]),
        )
    console.print(table)

"""``clientvault analytics``: fit the CLV models, print KPIs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from clientvault.analytics import kpis
from clientvault.analytics.lifetime_value import day_end, day_start, fit_and_score
from clientvault.cli.common import DataDirOption, console, load_settings, opened_store

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
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """The KPI set of a date range (definitions in ``analytics.kpis``)."""
    settings = load_settings(data_dir)
    first = date.fromisoformat(start) if _day(start, "--from") else None
    last = date.fromisoformat(end) if _day(end, "--to") else None
    if first is None or last is None:  # pragma: no cover - _day refuses what isn't a date
        raise typer.BadParameter("give --from and --to")
    with opened_store(settings) as store, store.read_sessions() as session:
        filters = kpis.Filters(
            day_start(first, settings.zone), day_end(last, settings.zone), source=source
        )
        result = kpis.compute(session, filters)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    table = Table("KPI", "value", "definition")
    for name, definition in kpis.DEFINITIONS.items():
        value = getattr(result, name)
        table.add_row(name, "—" if value is None else f"{value:.6g}", definition)
    console.print(table)

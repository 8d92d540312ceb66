"""``clientvault journey``: list, show, pause and resume the marketing journeys."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from clientvault.automation.journeys import catalogue, definition, describe
from clientvault.cli.common import (
    DataDirOption,
    console,
    load_settings,
    opened_store,
    reported_errors,
)
from clientvault.security.principal import Principal

journey_app = typer.Typer(help="Marketing journeys (workflows).", no_args_is_help=True)
#: Who pauses and resumes from the command line (audited as such).
CLI_MARKETER = Principal.system("cli", "campaigns:manage")
JourneyArgument = typer.Argument(..., help="The journey's name or id.")


@journey_app.command("list")
def list_command(data_dir: Path | None = DataDirOption) -> None:
    """Every journey: status, version, trigger, people in it."""
    settings = load_settings(data_dir)
    table = Table("journey", "status", "version", "trigger", "in flight", "entrants", "converted")
    with opened_store(settings) as store, store.read_sessions() as session:
        for journey in catalogue.list_journeys(session):
            stats = catalogue.journey_stats(session, journey)
            table.add_row(
                journey.name,
                journey.status,
                str(journey.current_version),
                journey.trigger_kind,
                str(stats.runs.get("active", 0)),
                str(stats.entrants),
                str(stats.converted),
            )
    console.print(table)


@journey_app.command("show")
def show_command(key: str = JourneyArgument, data_dir: Path | None = DataDirOption) -> None:
    """A journey's definition and its funnel per step."""
    settings = load_settings(data_dir)
    with reported_errors(), opened_store(settings) as store, store.read_sessions() as session:
        journey = catalogue.find_journey(session, key)
        stats = catalogue.journey_stats(session, journey)
        document = catalogue.definition_document(session, journey)
    console.print(
        f"[bold]{journey.name}[/bold] ({journey.status}, version {journey.current_version})"
    )
    parsed = definition.parse(document)
    console.print(describe.describe_trigger(parsed.trigger), markup=False)
    console.print_json(json.dumps(document))
    texts = describe.describe_steps(parsed)
    table = Table("step", "does", "runs", "outcomes")
    for step in stats.steps:
        outcomes = ", ".join(f"{name}: {count}" for name, count in sorted(step.outcomes.items()))
        table.add_row(
            step.step_id, Text(texts.get(step.step_id, "")), str(step.total), outcomes or "—"
        )
    console.print(table)
    console.print(
        f"entrants {stats.entrants}, converted {stats.converted}, "
        f"holdout {stats.holdout} (converted {stats.holdout_converted})"
    )


def _change(key: str, action: str, data_dir: Path | None) -> None:
    settings = load_settings(data_dir)
    with reported_errors(), opened_store(settings) as store, store.sessions.begin() as session:
        journey = catalogue.find_journey(session, key)
        catalogue.change_status(session, journey.id, action, by=CLI_MARKETER)
        console.print(f"{journey.name}: {journey.status}")


@journey_app.command("pause")
def pause_command(key: str = JourneyArgument, data_dir: Path | None = DataDirOption) -> None:
    """Pause a journey: no new entrants, people in it wait where they are."""
    _change(key, "pause", data_dir)


@journey_app.command("resume")
def resume_command(key: str = JourneyArgument, data_dir: Path | None = DataDirOption) -> None:
    """Resume a paused journey: people in it go on from where they waited."""
    _change(key, "resume", data_dir)


@journey_app.command("activate")
def activate_command(key: str = JourneyArgument, data_dir: Path | None = DataDirOption) -> None:
    """Activate a draft journey: it starts taking entrants."""
    _change(key, "activate", data_dir)

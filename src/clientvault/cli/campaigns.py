"""``clientvault campaign``: list, show, create (from a YAML or JSON file) and cancel the
campaigns, as ``/api/v1/campaigns`` does; ``--json`` prints what the API answers."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from clientvault.automation.journeys import campaigns
from clientvault.automation.journeys.models import Campaign
from clientvault.cli.common import (
    DataDirOption,
    console,
    load_settings,
    opened_store,
    read_document,
)
from clientvault.cli.journeys import CLI_MARKETER
from clientvault.errors import InvalidInput

campaign_app = typer.Typer(
    help="Marketing campaigns: one-off or scheduled sends.", no_args_is_help=True
)
CampaignArgument = typer.Argument(..., help="The campaign's name or id.")
JsonOption = typer.Option(False, "--json", help="Print JSON (as the API answers) instead.")
FileArgument = typer.Argument(
    ...,
    exists=True,
    dir_okay=False,
    help="A YAML or JSON file: name, variants (name, template, percent), and optionally "
    "filters, purpose, send_at, test_percent, winner_metric, winner_goal, winner_after_hours.",
)


def _document(campaign: Campaign, recipients: dict[str, int]) -> dict[str, Any]:
    """A campaign as the API's ``CampaignRead`` has it (JSON-ready)."""
    found = {column.key: getattr(campaign, column.key) for column in Campaign.__table__.columns}
    found.pop("created_at", None)
    document: dict[str, Any] = json.loads(
        json.dumps({**found, "recipients": recipients}, default=_json_value)
    )
    return document


def _json_value(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _echo(document: object) -> None:
    typer.echo(json.dumps(document, indent=2, sort_keys=True))


def _variants(campaign: Campaign) -> str:
    return ", ".join(f"{v['name']}: {v['template']} {v['percent']}%" for v in campaign.variants)


def _counts(recipients: dict[str, int]) -> str:
    return ", ".join(f"{name}: {n}" for name, n in sorted(recipients.items())) or "—"


@campaign_app.command("list")
def list_command(as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Every campaign, newest first: status, send time, variants, recipients by outcome."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        found = campaigns.list_campaigns(session)
        if as_json:
            _echo([_document(c, counts) for c, counts in found])
            return
        table = Table("campaign", "status", "send at", "variants", "recipients")
        for campaign, counts in found:
            table.add_row(
                Text(campaign.name),
                campaign.status,
                f"{campaign.send_at:%Y-%m-%d %H:%M} UTC",
                Text(_variants(campaign)),
                Text(_counts(counts)),
            )
    console.print(table)


@campaign_app.command("show")
def show_command(
    key: str = CampaignArgument, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption
) -> None:
    """One campaign: its settings, recipients by outcome, and the winner if one was chosen."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        campaign, counts = campaigns.find_campaign(session, key)
        document = _document(campaign, counts)
    if as_json:
        _echo(document)
        return
    console.print(Text(f"{campaign.name} ({campaign.status})", style="bold"))
    table = Table("field", "value", show_header=False)
    table.add_row("id", str(campaign.id))
    table.add_row("purpose", campaign.purpose)
    table.add_row("send at", f"{campaign.send_at:%Y-%m-%d %H:%M} UTC")
    table.add_row("variants", Text(_variants(campaign)))
    table.add_row("filters", Text(json.dumps(campaign.filters) if campaign.filters else "—"))
    if campaign.test_percent is not None:
        goal = f" ({campaign.winner_goal})" if campaign.winner_goal else ""
        table.add_row(
            "winner",
            Text(
                f"tested on {campaign.test_percent}%, best by {campaign.winner_metric}{goal} "
                f"after {campaign.winner_after_hours:g} h: {campaign.winner_variant or 'not yet'}"
            ),
        )
    table.add_row("recipients", Text(_counts(counts)))
    if campaign.finished_at is not None:
        table.add_row("finished", f"{campaign.finished_at:%Y-%m-%d %H:%M} UTC")
    console.print(table)


@campaign_app.command("create")
def create_command(
    path: Path = FileArgument, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption
) -> None:
    """Schedule a campaign from a file (sent now if it names no ``send_at``); its templates
    and purpose must exist."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        spec = read_document(path)
        if not isinstance(spec, dict):
            raise InvalidInput(f"{path.name}: a campaign is a mapping (name, variants, …)")
        with store.sessions.begin() as session:
            campaign = campaigns.schedule_campaign(session, spec, by=CLI_MARKETER)
            document = _document(campaign, {})
    if as_json:
        _echo(document)
        return
    console.print(
        Text(f"Campaign {campaign.name}: {campaign.status}, sends at ")
        + Text(f"{campaign.send_at:%Y-%m-%d %H:%M} UTC ({campaign.id}).")
    )


@campaign_app.command("cancel")
def cancel_command(
    key: str = CampaignArgument, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption
) -> None:
    """Cancel a campaign not yet sent (those already handled keep their e-mail)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.sessions.begin() as session:
        found, counts = campaigns.find_campaign(session, key)
        campaign = campaigns.cancel_campaign(session, found.id, by=CLI_MARKETER)
        document = _document(campaign, counts)
    if as_json:
        _echo(document)
        return
    console.print(Text(f"{campaign.name}: {campaign.status}"))

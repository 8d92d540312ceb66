"""``clientvault personalize``: content slots and offers from YAML/JSON files, what a customer
would see in a slot, and a customer's next best offers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer
from rich.table import Table

from clientvault.automation.personalize import offers, slots
from clientvault.cli.common import (
    DataDirOption,
    console,
    load_settings,
    opened_store,
    read_document,
    reported_errors,
)
from clientvault.security.principal import Principal

personalize_app = typer.Typer(
    help="Personalised web content (slots) and the next best offer.", no_args_is_help=True
)
#: Who changes slots and offers, and reads offers, from the command line (audited as such).
CLI_MARKETER = Principal.system("cli", "campaigns:manage", "customers:read")
FileArgument = typer.Argument(..., exists=True, dir_okay=False, help="A YAML or JSON file.")
ReplaceOption = typer.Option(False, "--replace", help="Change the existing one with this key.")
CustomerArgument = typer.Argument(..., help="The customer's id.")


@personalize_app.command("slot-save")
def slot_save_command(
    path: Path = FileArgument, replace: bool = ReplaceOption, data_dir: Path | None = DataDirOption
) -> None:
    """Create (or with --replace change) a content slot: key, default, variants."""
    settings = load_settings(data_dir)
    with reported_errors(), opened_store(settings) as store, store.sessions.begin() as session:
        spec = slots.read_spec(read_document(path))
        slot = slots.save_slot(session, spec, create=not replace, by=CLI_MARKETER)
        console.print(f"{slot.key}: {len(slot.variants)} variant(s) and a default")


@personalize_app.command("slots")
def slots_command(data_dir: Path | None = DataDirOption) -> None:
    """Every content slot with its variants' conditions."""
    settings = load_settings(data_dir)
    table = Table("slot", "active", "variants (first match wins)", "default headline")
    with opened_store(settings) as store, store.read_sessions() as session:
        for slot in slots.list_slots(session):
            table.add_row(
                slot.key,
                "yes" if slot.active else "no",
                ", ".join(f"{v['name']} ({v['when']['kind']})" for v in slot.variants) or "—",
                str(slot.default.get("headline") or "—"),
            )
    console.print(table)


@personalize_app.command("decide")
def decide_command(
    key: str = typer.Argument(..., help="The slot's key."),
    customer: uuid.UUID = typer.Option(..., "--customer", help="The customer's id."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """What a customer would see in a slot, and why (nothing is recorded)."""
    settings = load_settings(data_dir)
    with reported_errors(), opened_store(settings) as store, store.read_sessions() as session:
        decision = slots.decide(session, store, key=key, customer_id=customer)
    console.print(f"{decision.slot}: [bold]{decision.variant}[/bold] ({decision.reason})")
    console.print_json(json.dumps(decision.content))


@personalize_app.command("offer-save")
def offer_save_command(
    path: Path = FileArgument, replace: bool = ReplaceOption, data_dir: Path | None = DataDirOption
) -> None:
    """Create (or with --replace change) an offer: key, kind, title, target, margin..."""
    settings = load_settings(data_dir)
    with reported_errors(), opened_store(settings) as store, store.sessions.begin() as session:
        offer = offers.save_offer(
            session, offers.read_offer(read_document(path)), create=not replace, by=CLI_MARKETER
        )
        console.print(f"{offer.key}: {offer.kind} offer saved")


@personalize_app.command("offers")
def offers_command(
    customer: uuid.UUID | None = typer.Option(
        None, "--customer", help="Rank the offers for this customer instead of listing them."
    ),
    k: int = typer.Option(3, "--k", min=1, max=50, help="How many offers to rank."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """The offer catalogue, or one customer's next best offers with the factors of each."""
    settings = load_settings(data_dir)
    with reported_errors(), opened_store(settings) as store, store.sessions.begin() as session:
        if customer is None:
            table = Table("offer", "kind", "title", "target", "margin", "purpose", "active")
            for o in offers.list_offers(session):
                active = "yes" if o.active else "no"
                target = o.target or "—"
                table.add_row(o.key, o.kind, o.title, target, f"{o.margin:.2f}", o.purpose, active)
        else:
            table = Table("offer", "value", "propensity", "relevance", "margin", "fatigue")
            for r in offers.offers_read(session, customer, k=k, by=CLI_MARKETER):
                f = r.factors
                table.add_row(
                    r.key,
                    f"{r.value:.4f}",
                    *(f"{f[n]:.3f}" for n in ("propensity", "relevance", "margin", "fatigue")),
                )
    console.print(table)

"""``clientvault segment``: create, list, preview, explain, export and refresh segments;
define and show computed traits (``trait-define``, ``traits [CUSTOMER]``, ``refresh --traits``).

A segment is written in a YAML or JSON file (``slug``, ``name``, ``kind``, ``rules``); errors
name the faulty node's path (``rules.all[2].window.last_days``). The operator at the console of
the installation acts as the system principal ``cli`` with ``segments:manage`` and
``pii:reveal`` (counts are shown exact); exports are audited like the API's.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from clientvault.cli.common import (
    DataDirOption,
    console,
    load_settings,
    opened_store,
    read_document,
)
from clientvault.migrations.schema import load_holders
from clientvault.security.principal import Principal
from clientvault.segments import rules as r
from clientvault.segments.export import export_segment
from clientvault.segments.membership import refresh_all, refresh_segment
from clientvault.segments.personas import compute_personas
from clientvault.segments.rfm import compute_rfm
from clientvault.segments.service import (
    Explanation,
    context,
    estimate,
    explain,
    get_segment,
    list_segments,
    preview,
    read_definition,
    save_segment,
)
from clientvault.segments.traits import (
    computed_traits_of,
    count_values,
    define_trait,
    list_traits,
    read_trait,
    recompute_all,
)

segment_app = typer.Typer(
    help="Segments: create from a YAML/JSON file, list, preview, explain, export, refresh.",
    no_args_is_help=True,
)
CLI_PRINCIPAL = Principal.system("cli", "segments:manage", "customers:read", "pii:reveal")
FileArgument = typer.Argument(
    ..., exists=True, dir_okay=False, help="A YAML or JSON file: slug, name, kind, rules."
)


@segment_app.command("create")
def create_command(
    path: Path = FileArgument,
    replace: bool = typer.Option(False, "--replace", help="Change the segment with this slug."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Create (or with --replace change) a segment from a file, and evaluate it."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        definition = read_definition(read_document(path))
        with store.sessions.begin() as session:
            segment = save_segment(
                session,
                definition,
                principal=CLI_PRINCIPAL,
                zone=settings.timezone,
                replace=replace,
            )
            console.print(f"Segment {segment.slug} ({segment.kind}): {segment.size} members.")


@segment_app.command("list")
def list_command(data_dir: Path | None = DataDirOption) -> None:
    """Every segment with its kind, size and last evaluation."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        table = Table("slug", "name", "kind", "size", "evaluated")
        for segment in list_segments(session):
            evaluated = (
                segment.evaluated_at.isoformat(timespec="seconds") if segment.evaluated_at else "-"
            )
            table.add_row(segment.slug, segment.name, segment.kind, str(segment.size), evaluated)
        console.print(table)


def _rule_of(source: str, session: Any) -> r.Node:
    path = Path(source)
    if path.is_file():
        document = read_document(path)
        if isinstance(document, dict) and "rules" in document:
            document = document["rules"]
        return r.parse_rules(document)
    return r.parse_rules(get_segment(session, source).rules)


@segment_app.command("preview")
def preview_command(
    source: str = typer.Argument(..., help="A segment's slug, or a YAML/JSON file."),
    data_dir: Path | None = DataDirOption,
    estimated: bool = typer.Option(
        False, "--estimate", help="Estimate from a sample of the profiles (fast when many)."
    ),
) -> None:
    """A rule's size and how much each top-level condition narrows it."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        node = _rule_of(source, session)
        ctx = context(session, zone=settings.timezone)
        if estimated:
            found = estimate(session, node, ctx, sample=settings.segments.estimate_sample)
        else:
            found = preview(session, node, ctx)
        if found.interval is not None:
            low, high = found.interval
            console.print(
                f"About {found.size} of {found.total} live profiles (95 % interval {low} to "
                f"{high}; estimated from a sample of {found.sample})."
            )
        else:
            console.print(f"{found.size} of {found.total} live profiles.")
        table = Table("condition", "alone", "with those above")
        for step in found.steps:
            table.add_row(step.label, str(step.alone), str(step.cumulative))
        if found.steps:
            console.print(table)


def _print_explanation(found: Explanation, depth: int = 0) -> None:
    mark = "[green]yes[/green]" if found.holds else "[red]no[/red]"
    console.print(f"{'  ' * depth}{mark}  {found.label}")
    for child in found.children:
        _print_explanation(child, depth + 1)


@segment_app.command("explain")
def explain_command(
    source: str = typer.Argument(..., help="A segment's slug, or a YAML/JSON file."),
    customer_id: uuid.UUID = typer.Argument(..., help="The customer to explain."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Why a customer is in (or out of) a segment, condition by condition."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        node = _rule_of(source, session)
        _print_explanation(
            explain(session, node, context(session, zone=settings.timezone), customer_id)
        )


@segment_app.command("export")
def export_command(
    slug: str = typer.Argument(..., help="The segment."),
    purpose: str = typer.Option(..., "--purpose", help="The processing purpose of the export."),
    output: Path = typer.Option(..., "--output", "-o", dir_okay=False, help="The CSV to write."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Write the segment's audience for a purpose as CSV (through the privacy layer, audited)."""
    settings = load_settings(data_dir)
    load_holders()
    with opened_store(settings) as store:
        text = export_segment(
            store, settings, slug, purpose=purpose, principal=CLI_PRINCIPAL, reason=reason
        )
    output.write_text(text, encoding="utf-8")
    output.chmod(0o600)
    console.print(f"Wrote {output} ({text.count(chr(10)) - 1} customers).")


@segment_app.command("refresh")
def refresh_command(
    slug: str | None = typer.Argument(None, help="One segment (default: every dynamic one)."),
    scores: bool = typer.Option(False, "--scores", help="Also recompute RFM groups and personas."),
    traits: bool = typer.Option(False, "--traits", help="Also recompute computed traits first."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Re-evaluate segments now (what the worker does on its timer)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        if traits:
            for name, changed in recompute_all(store).items():
                console.print(f"trait {name}: {changed} values changed.")
        if scores:
            rfm = compute_rfm(store, zone=settings.zone)
            console.print(f"RFM groups written for {rfm} customers.")
            personas = compute_personas(store)
            console.print(f"Personas: {personas.k} clusters for {personas.customers} customers.")
        if slug is not None:
            with store.sessions.begin() as session:
                changes = refresh_segment(session, get_segment(session, slug))
            console.print(f"{slug}: +{changes.entered} -{changes.exited}, {changes.size} members.")
            return
        for name, changes in refresh_all(store).items():
            console.print(f"{name}: +{changes.entered} -{changes.exited}, {changes.size} members.")


@segment_app.command("trait-define")
def trait_define_command(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A YAML or JSON file: name, event, aggregate…"
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Define a computed trait from a file (computed for every customer at once)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        definition = read_trait(read_document(path))
        with store.sessions.begin() as session:
            trait = define_trait(session, definition, principal=CLI_PRINCIPAL)
            held = count_values(session, trait)
            console.print(f"Computed trait {trait.name}: {held} customers with a value.")


@segment_app.command("traits")
def traits_command(
    customer: uuid.UUID | None = typer.Argument(
        None, help="A customer's id: their values (default: every trait's definition)."
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Computed traits: their definitions, or one customer's values."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        if customer is not None:
            table = Table("trait", "value", "changed")
            for name, value, at in computed_traits_of(session, customer):
                changed = at.isoformat(timespec="seconds") if at else "-"
                table.add_row(name, json.dumps(value, ensure_ascii=False), changed)
        else:
            table = Table("name", "aggregate", "event", "property", "window")
            for t in list_traits(session):
                window = f"{t.window_days} days" if t.window_days else "all time"
                table.add_row(t.name, t.aggregate, t.event, t.property or "-", window)
        console.print(table)

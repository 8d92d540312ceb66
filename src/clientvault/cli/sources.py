"""``clientvault sources``: tracking sources and their write keys."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.ingest.sources import create_source, list_sources, revoke_source

sources_app = typer.Typer(help="Tracking sources and their write keys.", no_args_is_help=True)


@sources_app.command("create")
def create_command(name: str, data_dir: Path | None = DataDirOption) -> None:
    """Create a source and print its write key (shown this once; only its hash is kept)."""
    with opened_store(load_settings(data_dir)) as store, store.sessions.begin() as session:
        created = create_source(session, name=name)
    console.print(f"Source [bold]{created.name}[/bold] created. Write key (shown once):")
    console.print(created.write_key, highlight=False, soft_wrap=True)


@sources_app.command("revoke")
def revoke_command(name: str, data_dir: Path | None = DataDirOption) -> None:
    """Revoke a source's write key; its calls are refused from now on."""
    with opened_store(load_settings(data_dir)) as store, store.sessions.begin() as session:
        revoke_source(session, name=name)
    console.print(f"Source [bold]{name}[/bold] revoked.")


@sources_app.command("list")
def list_command(data_dir: Path | None = DataDirOption) -> None:
    """List sources with their key prefix and state."""
    with opened_store(load_settings(data_dir)) as store, store.sessions() as session:
        table = Table("name", "key prefix", "created", "state")
        for source in list_sources(session):
            state = "revoked" if source.revoked_at else "active"
            table.add_row(source.name, source.key_prefix, f"{source.created_at:%Y-%m-%d}", state)
    console.print(table)

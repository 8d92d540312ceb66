"""``clientvault sources``: tracking sources and their write keys."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.ingest.sources import (
    change_origins,
    create_source,
    list_sources,
    revoke_source,
)
from clientvault.security.principal import Principal

#: Who the audit log names for changes made from the command line.
CLI_SOURCES = Principal.system("cli", "sources:manage")
sources_app = typer.Typer(help="Tracking sources and their write keys.", no_args_is_help=True)
_ORIGIN_HELP = (
    "A website origin (https://shop.example.com) whose pages may call with this write key; "
    "repeatable. Without any, every origin may."
)


def _shown(origins: list[str], separator: str = ", ") -> str:
    return separator.join(origins) if origins else "any"


@sources_app.command("create")
def create_command(
    name: str,
    origin: list[str] | None = typer.Option(None, "--origin", help=_ORIGIN_HELP),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Create a source and print its write key (shown this once; only its hash is kept)."""
    with opened_store(load_settings(data_dir)) as store, store.sessions.begin() as session:
        created = create_source(session, name=name, origins=origin or (), principal=CLI_SOURCES)
    console.print(f"Source [bold]{created.name}[/bold] created. Write key (shown once):")
    console.print(created.write_key, highlight=False, soft_wrap=True)
    console.print(
        f"Browser calls accepted from: {_shown(created.origins)}", highlight=False, soft_wrap=True
    )


@sources_app.command("origins")
def origins_command(
    name: str,
    add: list[str] | None = typer.Option(None, "--add", help="An origin to allow; repeatable."),
    remove: list[str] | None = typer.Option(
        None, "--remove", help="An origin to drop; repeatable."
    ),
    any_origin: bool = typer.Option(
        False, "--any", help="Clear the list first: every origin may call (then --add applies)."
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Show or change the website origins a source accepts browser calls from."""
    with opened_store(load_settings(data_dir)) as store, store.sessions.begin() as session:
        origins = change_origins(
            session,
            name=name,
            add=add or (),
            remove=remove or (),
            any_origin=any_origin,
            principal=CLI_SOURCES,
        )
    console.print(
        f"Source [bold]{name}[/bold] accepts browser calls from: {_shown(origins)}",
        highlight=False,
        soft_wrap=True,
    )


@sources_app.command("revoke")
def revoke_command(name: str, data_dir: Path | None = DataDirOption) -> None:
    """Revoke a source's write key; its calls are refused from now on."""
    with opened_store(load_settings(data_dir)) as store, store.sessions.begin() as session:
        revoke_source(session, name=name, principal=CLI_SOURCES)
    console.print(f"Source [bold]{name}[/bold] revoked.")


@sources_app.command("list")
def list_command(data_dir: Path | None = DataDirOption) -> None:
    """List sources with their key prefix and state."""
    with opened_store(load_settings(data_dir)) as store, store.sessions() as session:
        table = Table("name", "key prefix", "created", "state", "origins")
        for source in list_sources(session):
            state = "revoked" if source.revoked_at else "active"
            table.add_row(
                source.name,
                source.key_prefix,
                f"{source.created_at:%Y-%m-%d}",
                state,
                _shown(source.allowed_origins, "\n"),
            )
    console.print(table)

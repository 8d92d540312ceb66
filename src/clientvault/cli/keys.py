"""``clientvault keys``: key-encryption key rotation and key status."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from clientvault.cli.common import DataDirOption, console, load_settings, reported_errors
from clientvault.errors import ConfigurationError
from clientvault.security.key_rotation import rotate_kek
from clientvault.security.principal import Principal
from clientvault.store.context import open_store

keys_app = typer.Typer(help="Key-encryption key rotation and status.", no_args_is_help=True)


@keys_app.command("rotate")
def rotate_command(data_dir: Path | None = DataDirOption) -> None:
    """Re-wrap every customer data key under a new KEK version; sealed data is untouched.

    The new version is added to the key file first; once every data key is re-wrapped (one
    transaction), the old versions are removed from the key file.
    """
    settings = load_settings(data_dir)
    with reported_errors():
        if settings.keystore.key_material is not None:
            raise ConfigurationError(
                "keys come from CLIENTVAULT_KEYSTORE__KEY_MATERIAL; rotate them where that "
                "secret is managed, with a key file"
            )
        store = open_store(settings)
        try:
            with Progress(console=console) as progress:
                task = progress.add_task("Re-wrapping data keys", total=store.keystore.total_keys())
                rotation = rotate_kek(
                    store,
                    settings.key_file,
                    by=Principal.system("cli"),
                    progress=lambda n: progress.advance(task, n),
                )
        finally:
            store.close()
    console.print(
        f"Re-wrapped {rotation.data_keys} data keys under KEK version {rotation.kek_version}."
    )


@keys_app.command("status")
def status_command(data_dir: Path | None = DataDirOption) -> None:
    """Show the current KEK version and how many data keys each version wraps."""
    settings = load_settings(data_dir)
    with reported_errors():
        store = open_store(settings)
        try:
            counts = store.keystore.count_by_kek_version()
            current = store.keystore.material.current_kek
        finally:
            store.close()
    console.print(f"Current KEK version: {current}")
    for version, count in sorted(counts.items()):
        console.print(f"  version {version}: {count} data keys")

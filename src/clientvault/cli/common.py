"""What every command shares: settings from options, the console, and error mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console

from clientvault.errors import ClientVaultError, ConfigurationError, InvalidInput
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store

console = Console()
err_console = Console(stderr=True)

#: Exit codes: 1 for a refused or failed operation, 2 for a configuration problem.
EXIT_FAILED = 1
EXIT_CONFIG = 2


def load_settings(data_dir: Path | None) -> Settings:
    """Settings from the environment, with ``--data-dir`` taking precedence."""
    try:
        settings = Settings()
    except ValidationError as exc:
        err_console.print(f"[red]error:[/red] invalid settings: {exc.error_count()} problem(s)")
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            err_console.print(f"  {where}: {problem['msg']}")
        raise typer.Exit(EXIT_CONFIG) from None
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn clientvault errors into a one-line message and an exit code, not a traceback."""
    try:
        yield
    except ConfigurationError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(EXIT_CONFIG) from None
    except ClientVaultError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(EXIT_FAILED) from None


@contextmanager
def opened_store(settings: Settings) -> Iterator[Store]:
    """The installation's store for one command, errors reported, always closed."""
    with reported_errors():
        store = open_store(settings)
        try:
            yield store
        finally:
            store.close()


DataDirOption = typer.Option(
    None,
    "--data-dir",
    help="Data directory (default: CLIENTVAULT_DATA_DIR or var/clientvault).",
    file_okay=False,
)


def read_document(path: Path) -> Any:
    """A YAML or JSON file's document (JSON by its suffix), or ``InvalidInput`` naming the
    file: what the CLI's create commands read."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except RecursionError as exc:
        raise InvalidInput(f"{path.name}: nested too deep", code="rule_too_deep") from exc
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path.name}: not valid YAML or JSON ({exc})") from exc

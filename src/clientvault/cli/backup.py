"""``clientvault backup`` (create, list, verify, drill, prune, health, key) and
``clientvault restore``: the backup domain from the command line, with Rich progress.

The operator acts as the system principal ``cli``; restores and drills are audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from clientvault.backup.catalogue import KINDS, list_backups, prune
from clientvault.backup.create import audit_backup, create_backup
from clientvault.backup.drills import run_drill
from clientvault.backup.health import check
from clientvault.backup.keys import key_path, load_keys
from clientvault.backup.restore import (
    check_restore_marks,
    record_restore,
    restore,
    verify_backup,
)
from clientvault.backup.targets import targets_for
from clientvault.cli.common import (
    DataDirOption,
    console,
    load_settings,
    opened_store,
    reported_errors,
)
from clientvault.errors import ClientVaultError, ConfigurationError, InvalidInput
from clientvault.migrations.schema import load_holders
from clientvault.privacy.erasure import reapply_tombstones, tombstone_snapshot
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import open_store

backup_app = typer.Typer(
    help="Encrypted backups, their targets, drills and pruning.", no_args_is_help=True
)
restore_app = typer.Typer(help="Restore a backup into an empty database or a new path.")
#: The operator at the command line: a restore re-applies erasures and decrypts a sample.
CLI_PRINCIPAL = Principal.system("cli", "privacy:manage", "pii:reveal")
KindOption = typer.Option("data", "--kind", help="data (the database) or keystore.")


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise typer.BadParameter(f"--kind is one of {', '.join(KINDS)}")
    return kind


@contextmanager
def _bytes_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def _size_of(settings: Settings, kind: str) -> int | None:
    path = settings.data_dir / ("clientvault.db" if kind == "data" else "keystore.db")
    url = settings.database_url if kind == "data" else settings.keystore_url
    return path.stat().st_size if url.startswith("sqlite") and path.exists() else None


@backup_app.command("create")
def create_command(
    data_dir: Path | None = DataDirOption,
    kind: str = typer.Option("both", "--kind", help="data, keystore or both."),
) -> None:
    """Back up the data database and/or the keystore (each to its own targets)."""
    settings = load_settings(data_dir)
    kinds = KINDS if kind == "both" else (_kind(kind),)
    with reported_errors():
        for each in kinds:
            with _bytes_progress(f"Backing up {each}", _size_of(settings, each)) as advance:
                result = create_backup(settings, each, progress=advance)
            with opened_store(settings) as store:
                audit_backup(store, result, principal=CLI_PRINCIPAL)
            console.print(
                f"{each}: backup [bold]{result.backup_id}[/bold], {result.stored_bytes:,} bytes, "
                f"complete on {', '.join(result.complete_on)}"
            )
            for name, why in result.failed.items():
                console.print(f"  [yellow]target {name} failed[/yellow]: {why}")


@backup_app.command("list")
def list_command(data_dir: Path | None = DataDirOption, kind: str = KindOption) -> None:
    """The backups on the targets, newest first, with where each is complete."""
    settings = load_settings(data_dir)
    with reported_errors():
        entries = list_backups(targets_for(settings, _kind(kind)), kind)
    table = Table("backup", "created (UTC)", "stored bytes", "complete on", "partial on")
    for entry in entries:
        table.add_row(
            entry.backup_id,
            f"{entry.created_at:%Y-%m-%d %H:%M:%S}",
            f"{entry.stored_bytes:,}",
            ", ".join(entry.complete_on) or "[red]none[/red]",
            ", ".join(entry.partial_on) or "—",
        )
    console.print(table)


@backup_app.command("verify")
def verify_command(
    backup_id: str | None = typer.Argument(None, help="Default: the newest complete one."),
    data_dir: Path | None = DataDirOption,
    kind: str = KindOption,
) -> None:
    """Check a backup on every target it is complete on: signature, every chunk's SHA-256,
    and that it decrypts to the snapshot the manifest describes."""
    settings = load_settings(data_dir)
    with reported_errors(), _bytes_progress("Verifying", None) as advance:
        manifest = verify_backup(settings, _kind(kind), backup_id, progress=advance)
    console.print(
        f"Backup [bold]{manifest['backup_id']}[/bold] verified: {len(manifest['chunks'])} "
        f"chunk(s), {sum(manifest['tables'].values()):,} rows in {len(manifest['tables'])} tables."
    )


@backup_app.command("drill")
def drill_command(data_dir: Path | None = DataDirOption) -> None:
    """Restore the newest backup into scratch, verify it, and record RTO and RPO."""
    settings = load_settings(data_dir)
    load_holders()
    with opened_store(settings) as store, console.status("Restore drill running"):
        record = run_drill(store, settings, principal=CLI_PRINCIPAL)
    if not record.ok:
        console.print(f"[red]Drill failed[/red]: {record.problem}")
        raise typer.Exit(1)
    console.print(
        f"Drill {record.drill_id} passed on {record.backup_id}: "
        f"RTO {record.rto_seconds:.1f} s, RPO {record.rpo_seconds or 0:.0f} s."
    )


@backup_app.command("prune")
def prune_command(data_dir: Path | None = DataDirOption) -> None:
    """Remove backups beyond each kind's retention, and partial ones older than a day."""
    settings = load_settings(data_dir)
    with reported_errors():
        for kind, policy in (
            ("data", settings.backup.retention),
            ("keystore", settings.backup.keystore_retention),
        ):
            report = prune(targets_for(settings, kind), kind, policy, now=datetime.now(UTC))
            removed = sum(len(ids) for ids in report.removed.values())
            console.print(f"{kind}: removed {removed} backup cop(ies)")
            for name, ids in report.failed.items():
                console.print(
                    f"  [yellow]{name}: could not remove {len(ids)} (object lock?)[/yellow]"
                )


@backup_app.command("health")
def health_command(data_dir: Path | None = DataDirOption) -> None:
    """Probe every target and raise alerts for overdue or failed backups and drills."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.sessions.begin() as session:
        report = check(session, settings)
    for state in report.targets:
        console.print(
            f"{state.target}: "
            + ("[green]ok[/green]" if state.ok else f"[red]{state.detail}[/red]")
        )
    for kind, newest in report.newest.items():
        console.print(f"newest {kind} backup: {newest or '[red]none[/red]'}")
    drill = report.last_drill
    console.print(
        "last drill: "
        + ("never" if drill is None else f"{drill['drill_id']} {'ok' if drill['ok'] else 'FAILED'}")
    )
    console.print(f"{report.alerts_raised} new alert(s)")


@backup_app.command("key")
def key_command(data_dir: Path | None = DataDirOption) -> None:
    """Where the backup key file is and its public key (create it if missing): copy the file
    off this machine; it is never inside a backup."""
    settings = load_settings(data_dir)
    with reported_errors():
        keys = load_keys(settings, create=True)
    console.print(f"Backup key file: [bold]{key_path(settings)}[/bold]")
    console.print(f"age recipient: {keys.recipient}", soft_wrap=True)


@backup_app.command("tombstones")
def tombstones_command(
    output: Path = typer.Option(..., "--output", "-o", dir_okay=False, help="The JSON to write."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Export the erasure register (ids and keyed hashes, no personal data), for a restore
    when the live database will not be reachable (``restore --tombstones``)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        output.write_text(json.dumps(tombstone_snapshot(session)))
    console.print(f"Erasure register written to {output}.")


@backup_app.command("reapply-erasures")
def reapply_command(
    tombstones: Path = typer.Option(
        ..., "--tombstones", exists=True, dir_okay=False, help="An erasure register export."
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Re-apply an erasure register to this installation's database (after a restore made by
    other tools, such as a PostgreSQL point-in-time recovery): erasures made after the
    recovery point hold again. Audited."""
    settings = load_settings(data_dir)
    load_holders()
    register, _ = _register(settings, tombstones)
    with opened_store(settings) as store, store.sessions.begin() as session:
        report = reapply_tombstones(
            session, store, principal=CLI_PRINCIPAL, reason="erasures re-applied", snapshot=register
        )
    console.print(
        f"{report.register_rows_restored} register row(s) added, {report.customers_erased} "
        f"customer(s) erased again, {report.keys_destroyed} key(s) destroyed."
    )


def _target_url(to: str) -> str:
    if "://" in to:
        return to
    return f"sqlite:///{Path(to).expanduser().resolve()}"


def _register(settings: Settings, tombstones: Path | None) -> tuple[dict[str, Any], bool]:
    """The erasure register to re-apply, and whether the live database gave it."""
    if tombstones is not None:
        try:
            return json.loads(tombstones.read_text()), False
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{tombstones} is not an erasure register export") from exc
    try:
        store = open_store(settings)
    except ClientVaultError as exc:
        raise ConfigurationError(
            "the live database is not reachable for its erasure register: pass --tombstones "
            f"FILE (from `clientvault backup tombstones`) ({exc.message})"
        ) from exc
    try:
        with store.read_sessions() as session:
            return tombstone_snapshot(session), True
    finally:
        store.close()


@restore_app.callback(invoke_without_command=True)
def restore_command(
    to: str = typer.Option(..., "--to", help="A new SQLite file path or an empty database's URL."),
    backup_id: str | None = typer.Option(
        None, "--backup", help="Default: the newest complete one."
    ),
    kind: str = KindOption,
    force: bool = typer.Option(False, "--force", help="Restore over a database that has data."),
    tombstones: Path | None = typer.Option(
        None,
        "--tombstones",
        exists=True,
        dir_okay=False,
        help="Erasure register export, when the live database is gone.",
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Restore a backup: verify every checksum first, restore, re-apply erasures, migrate,
    check integrity (row counts, audit chain, a sample decrypt). Refuses a database that
    has data without --force; a restore cut short leaves the target marked unusable."""
    settings = load_settings(data_dir)
    load_holders()
    with reported_errors():
        register, live = _register(settings, tombstones)
        with _bytes_progress("Fetching and verifying", None) as advance:
            report = restore(
                settings,
                kind=_kind(kind),
                target_url=_target_url(to),
                tombstones=register,
                principal=CLI_PRINCIPAL,
                backup_id=backup_id,
                force=force,
                progress=advance,
            )
        if live:
            with opened_store(settings) as store:
                record_restore(store, report, kind=kind, principal=CLI_PRINCIPAL)
    for step in report.steps:
        console.print(f"  {step}")
    console.print(
        f"Restored [bold]{report.backup_id}[/bold] into {report.target} in {report.seconds:.1f} s."
    )


def refuse_unfinished_restore(settings: Settings) -> None:
    """Refuse to serve a database or keystore whose restore did not finish."""
    check_restore_marks(settings.database_url)
    check_restore_marks(settings.keystore_url)

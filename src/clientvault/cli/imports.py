"""``clientvault import``: bulk import of customers (CSV) and events (JSON lines).

Exit codes: 0 when the import ran (rejected rows are listed in the error report), 1 when
nothing could be imported, 2 when the options (mapping, delimiter, paths) are unusable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from clientvault.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    DataDirOption,
    console,
    err_console,
    load_settings,
    opened_store,
    reported_errors,
)
from clientvault.ingest.bulk_import import (
    ImportOptionsError,
    ImportSummary,
    error_report_path,
    expiring_events,
    import_customers,
    import_events,
)
from clientvault.ingest.import_jobs import job_view, list_jobs, report_file
from clientvault.ingest.import_mapping import parse_mapping_json, parse_pairs
from clientvault.settings import Settings
from clientvault.store.context import Store

imports_app = typer.Typer(
    help="Bulk import of customers (CSV) and events (JSON lines).", no_args_is_help=True
)

FileArgument = typer.Argument(
    ..., exists=True, dir_okay=False, readable=True, help="The file to import (UTF-8)."
)
SourceOption = typer.Option(
    "import", "--source", help="Source name recorded on the customers and events."
)
ErrorsOption = typer.Option(
    None,
    "--errors",
    dir_okay=False,
    help="Where the per-row error report (CSV: row, line, reason) goes (default: FILE.errors.csv).",
)


@imports_app.command("customers")
def customers_command(
    file: Path = FileArgument,
    map_: list[str] | None = typer.Option(
        None, "--map", help="TARGET=HEADER, e.g. --map firstName=Prénom (repeatable)."
    ),
    mapping_file: Path | None = typer.Option(
        None,
        "--mapping",
        exists=True,
        dir_okay=False,
        help='A JSON mapping file: {"TARGET": "HEADER", ...}.',
    ),
    source: str = SourceOption,
    errors: Path | None = ErrorsOption,
    delimiter: str | None = typer.Option(
        None, "--delimiter", help="Field delimiter (default: guessed from the header)."
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Import customers from a CSV file (header first) as identify calls.

    Headers that spell a target (email, phone, firstName, lastName, name, birthday, gender,
    language, street, city, postalCode, country, userId, anonymousId, timestamp) map to it;
    map others with --map TARGET=HEADER or --mapping FILE, and custom traits (kept in the
    clear, for segmentation) with --map traits.NAME=HEADER. Unmapped columns are not imported.
    Running the same file again stores nothing twice.
    """
    report = _report_path(file, errors)
    settings = load_settings(data_dir)
    with _options_errors():
        mapping = parse_pairs(map_ or [])
        if mapping_file is not None:
            mapping = {**parse_mapping_json(mapping_file.read_bytes()), **mapping}
    with _opened_for_import(settings, file) as (store, stream, advance):
        summary = import_customers(
            store,
            stream=stream,
            default_region=settings.default_phone_region,
            identity=settings.identity,
            source=source,
            mapping=mapping,
            delimiter=delimiter.replace("\\t", "\t") if delimiter else None,
            error_report=report,
            progress=advance,
            url_parameters=settings.privacy.url_parameters,
        )
    _print_summary(file, summary, report)


@imports_app.command("events")
def events_command(
    file: Path = FileArgument,
    source: str = SourceOption,
    errors: Path | None = ErrorsOption,
    yes: bool = typer.Option(
        False,
        "--yes",
        help="Import without asking even if the next retention run would purge some of the "
        "file's orders at once (orders older than the accounting period).",
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Import events from a JSON-lines file: one tracking-spec message (with "type") a line.

    Messages without a messageId get one derived from their content, so running the same
    file again stores nothing twice. Historic events are kept (their retention counts from
    receipt); orders dated before the accounting period would be purged by the next
    retention run, so the command counts them first and asks (--yes: do not ask).
    """
    report = _report_path(file, errors)
    settings = load_settings(data_dir)
    if not yes:
        _confirm_expiring(file, settings)
    with _opened_for_import(settings, file) as (store, stream, advance):
        summary = import_events(
            store,
            stream=stream,
            default_region=settings.default_phone_region,
            identity=settings.identity,
            source=source,
            error_report=report,
            progress=advance,
            retention=settings.retention,
            url_parameters=settings.privacy.url_parameters,
        )
    _print_summary(file, summary, report)


@imports_app.command("jobs")
def jobs_command(data_dir: Path | None = DataDirOption) -> None:
    """The latest background imports (console uploads, API ``?background=true``): state,
    share of the file read, counts, and where each error report is."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        views = [job_view(settings, job) for job in list_jobs(session)]
    rows = [
        (
            str(view.id),
            view.file_name,
            view.state if view.finished else f"{view.state} {view.percent} %",
            view.error,
            f"{view.counts['rows']:,}",
            f"{view.counts['accepted']:,}",
            f"{view.counts['rejected']:,}",
            str(report_file(settings, view.id)) if view.has_report else "—",
        )
        for view in views
    ]

    def fixed(name: str, index: int) -> Column:
        # Never cut: ids, names, states and counts are what an operator reads and copies.
        return Column(
            name, no_wrap=True, min_width=max([len(name), *(len(str(r[index])) for r in rows)])
        )

    table = Table(
        fixed("id", 0),
        fixed("file", 1),
        fixed("state", 2),
        fixed("rows", 4),
        fixed("stored", 5),
        fixed("refused", 6),
        Column("error report", overflow="fold"),
    )
    for id_, name, state, error, total, stored, refused, report in rows:
        shown = state if error is None else f"{state}: {error}"
        table.add_row(id_, escape(name), escape(shown), total, stored, refused, escape(report))
    console.print(table if views else "No background import.")


def _confirm_expiring(file: Path, settings: Settings) -> None:
    """Ask before importing orders the next retention run would purge at once (a refusal,
    or no terminal to answer on, exits 1 with nothing imported)."""
    with file.open("rb") as stream:
        count = expiring_events(stream, retention=settings.retention)
    if count:
        months = settings.retention.holder_months["ingest.orders"]
        err_console.print(
            f"[yellow]warning:[/yellow] {count:,} orders in {escape(file.name)} are older than "
            f"the {months}-month accounting retention period (counted from the order date): "
            "the next retention run purges them."
        )
        typer.confirm("Import them anyway?", abort=True, err=True)


def _report_path(file: Path, errors: Path | None) -> Path:
    report = errors or error_report_path(file)
    if report.resolve() == file.resolve():
        err_console.print("[red]error:[/red] the error report would overwrite the input file")
        raise typer.Exit(EXIT_CONFIG)
    return report


@contextmanager
def _options_errors() -> Iterator[None]:
    """Unusable options exit with 2; other clientvault errors as every command maps them."""
    with reported_errors():
        try:
            yield
        except ImportOptionsError as exc:
            err_console.print(f"[red]error:[/red] {escape(exc.message)}")
            raise typer.Exit(EXIT_CONFIG) from None


@contextmanager
def _opened_for_import(
    settings: Settings, file: Path
) -> Iterator[tuple[Store, BinaryIO, Callable[[int], None]]]:
    """The store, the file to import and a progress bar's callback; unusable options exit 2."""
    with (
        opened_store(settings) as store,
        _options_errors(),
        file.open("rb") as stream,
        _progress_bar(file) as advance,
    ):
        yield store, stream, advance


@contextmanager
def _progress_bar(file: Path) -> Iterator[Callable[[int], None]]:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"Importing {file.name}", total=file.stat().st_size)
        yield lambda consumed: progress.advance(task, consumed)


def _print_summary(file: Path, summary: ImportSummary, report: Path) -> None:
    console.print(
        f"{file.name}: {summary.rows:,} rows read, {summary.accepted:,} accepted, "
        f"{summary.duplicates:,} duplicates, {summary.rejected:,} rejected, "
        f"{summary.customers_created:,} customers created in {summary.seconds:.1f} s.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if summary.identifier_conflicts:
        console.print(
            f"{summary.identifier_conflicts:,} identifiers already held by another customer "
            "at their kind's limit: kept on the profile that brought them, not linked; "
            "`clientvault identity resolve` weighs them as evidence of one person.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if summary.blocked_identifiers:
        console.print(
            f"{summary.blocked_identifiers:,} placeholder identifier values dropped "
            "(identity.blocked_values).",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if summary.ignored_columns:
        console.print(
            f"Columns not imported: {', '.join(summary.ignored_columns)} "
            "(map them with --map TARGET=HEADER).",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if summary.expiring:
        console.print(
            f"warning: {summary.expiring:,} imported orders are older than the accounting "
            "retention period: the next retention run purges them.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if summary.rejected:
        console.print(
            f"{summary.rejected:,} rows rejected: see {report} (row, line, reason).",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if summary.imported_nothing:
        err_console.print("[red]error:[/red] nothing could be imported")
        raise typer.Exit(EXIT_FAILED)

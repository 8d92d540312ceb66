"""``clientvault jobs``: the scheduled jobs the workers run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.table import Column, Table

from clientvault.automation.jobs import list_jobs
from clientvault.automation.scheduler import JobStatus
from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.domains import JOBS

jobs_app = typer.Typer(help="Scheduled jobs run by the workers.", no_args_is_help=True)


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return "—" if moment is None else f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S}"


def _last(job: JobStatus) -> str:
    if job.last_status is None:
        return "never run"
    if job.last_error:
        return f"[red]{job.last_status}[/red]: {job.last_error}"
    return job.last_status


@jobs_app.command("list")
def list_command(data_dir: Path | None = DataDirOption) -> None:
    """Each job with its schedule, last run and status, next run and current lease holder
    (times in the installation's time zone)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        jobs = list_jobs(session, settings, JOBS)
    table = Table(
        # A job's name is what `run now` and the logs use: never cut it, let the rest wrap.
        Column("job", no_wrap=True, min_width=max((len(job.name) for job in jobs), default=3)),
        "schedule",
        "last run",
        "last status",
        "next run",
        "leased by",
        caption=f"Times in {settings.timezone}.",
    )
    for job in jobs:
        table.add_row(
            job.name,
            job.schedule if job.enabled else f"{job.schedule} [dim](off)[/dim]",
            _when(job.last_started_at, settings.zone),
            _last(job),
            _when(job.next_run_at, settings.zone) if job.enabled else "—",
            job.leased_by or "—",
        )
    console.print(table)

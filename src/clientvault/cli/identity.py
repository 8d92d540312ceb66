"""``clientvault identity``: identity resolution jobs.

``resolve`` runs the batch probabilistic matching (Splink) over every active profile: it
trains a new model, merges the pairs above the automatic threshold and queues the grey zone
for review in the console.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.identity.matching.resolve import ResolveSummary, resolve
from clientvault.identity.matching.store import Thresholds
from clientvault.identity.profiles import index_for_search

identity_app = typer.Typer(help="Identity resolution: probabilistic matching of profiles.")

_STAGES = 4


@identity_app.command("resolve")
def resolve_command(
    data_dir: Path | None = DataDirOption,
    auto_merge: float | None = typer.Option(
        None,
        "--auto-merge",
        min=0.0,
        max=1.0,
        help="Match probability from which two profiles are merged without review "
        "(default: identity.auto_merge_probability).",
    ),
    review: float | None = typer.Option(
        None,
        "--review",
        min=0.0,
        max=1.0,
        help="Match probability from which a pair is queued for review "
        "(default: identity.review_probability).",
    ),
    seed: int = typer.Option(
        42,
        "--seed",
        help="Seed of u sampling: the same data and seed make the same model and merges.",
    ),
) -> None:
    """Train a matching model on all active profiles, merge the sure pairs and queue the
    uncertain ones; prints what was done."""
    settings = load_settings(data_dir)
    configured = settings.identity
    with opened_store(settings) as store:
        thresholds = Thresholds(
            auto_merge=configured.auto_merge_probability if auto_merge is None else auto_merge,
            review=configured.review_probability if review is None else review,
        )
        with Progress(
            TextColumn("{task.description:<36}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("starting", total=_STAGES)
            started = [False]

            def step(name: str) -> None:
                if started[0]:
                    progress.advance(task)
                started[0] = True
                progress.update(task, description=name)

            summary = resolve(
                store, settings=configured, thresholds=thresholds, seed=seed, step=step
            )
            progress.update(task, completed=_STAGES)
    _print_summary(summary)


def _print_summary(summary: ResolveSummary) -> None:
    console.print(
        f"Matched {summary.customers:,} active profiles with model v{summary.model_version}: "
        f"{summary.pairs_compared:,} pairs scored, {summary.pairs_above_review:,} above the review "
        f"threshold ({summary.pairs_above_auto_merge:,} of them above the auto-merge threshold)."
    )
    console.print(
        f"Of those {summary.pairs_above_review:,}: auto-merged [bold]{summary.auto_merged:,}"
        f"[/bold]; queued for review [bold]{summary.queued:,}[/bold]; already one person "
        f"{summary.already_one:,} (before this run or through its other merges); already "
        f"decided {summary.already_decided:,}. Time: {summary.seconds:.1f} s."
    )


@identity_app.command("reindex")
def reindex_command(data_dir: Path | None = DataDirOption) -> None:
    """Write the customer list's e-mail hints and name indexes of profiles stored before
    they existed (opened through the audited reveal path); safe to run again."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        count = index_for_search(store)
    console.print(f"Indexed {count:,} profile(s) for the customer list.")

"""``clientvault predict``: train, evaluate, list and promote models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from rich.table import Table

from clientvault.cli.common import (
    DataDirOption,
    console,
    load_settings,
    opened_store,
    reported_errors,
)
from clientvault.predict import registry
from clientvault.predict.registry import scorer_metrics
from clientvault.predict.service import TRAINABLE, train
from clientvault.predict.tabular import evaluate_table
from clientvault.security.principal import Principal

predict_app = typer.Typer(
    help="Prediction models: train, evaluate, list, promote.", no_args_is_help=True
)
CLI_PRINCIPAL = Principal.system("cli", "settings:manage")


def _figures(metrics: dict[str, float]) -> str:
    keys = ("auc", "pr_auc", "brier", "lift_at_10", "precision_at_10", "recall_at_10", "ndcg_at_10")
    return ", ".join(f"{k} {metrics[k]:.3f}" for k in keys if k in metrics)


@predict_app.command("train")
def train_command(
    task: str = typer.Argument(..., help=f"One of: {', '.join(TRAINABLE)}."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Train a model now on the installation's data (promoted if it beats the current one)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, reported_errors(), store.sessions.begin() as session:
        row = train(session, task, by=CLI_PRINCIPAL)
        console.print(f"{row.version}: {row.status}, grade {row.grade}")
        for name, figures in scorer_metrics(row).items():
            console.print(f"  {name}: {_figures(figures)}")
        if row.note:
            console.print(f"  {row.note}")


@predict_app.command("evaluate")
def evaluate_command(
    csv_file: Path = typer.Option(
        ..., "--csv", exists=True, dir_okay=False, help="A table, one row per customer."
    ),
    target: str = typer.Option(..., help="The column saying whether the customer left."),
    positive: str = typer.Option("Yes", help="The target's value meaning 'left'."),
) -> None:
    """Evaluate the churn pipeline on an external table (80/20 stratified split, seed 42):
    the product model's and the logistic-regression baseline's hold-out metrics."""
    with reported_errors():
        with csv_file.open(newline="", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
        evaluation = evaluate_table(records, target=target, positive=positive)
    for name, figures in evaluation.metrics.items():
        console.print(f"{name}: {_figures(figures)}")
    top = ", ".join(name for name, _, _ in evaluation.importances[:5])
    console.print(f"most important: {top}")


@predict_app.command("list")
def list_command(
    task: str | None = typer.Option(None, help="Only this task's models."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Registered models, newest first, with their status, grade and hold-out metrics."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        rows = registry.list_models(session, task=task)
        found = [
            {
                "version": r.version,
                "task": r.task,
                "status": r.status,
                "grade": r.grade,
                "metrics": r.metrics.get("model", {}),
            }
            for r in rows
        ]
    if as_json:
        console.print_json(json.dumps(found))
        return
    table = Table("version", "task", "status", "grade", "hold-out")
    for row in found:
        table.add_row(
            row["version"], row["task"], row["status"], row["grade"], _figures(row["metrics"])
        )
    console.print(table)


@predict_app.command("promote")
def promote_command(version: str, data_dir: Path | None = DataDirOption) -> None:
    """Promote a model by hand (overrides the hold-out rule; audited)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, reported_errors(), store.sessions.begin() as session:
        row = registry.promote(session, version, by=CLI_PRINCIPAL)
        console.print(f"{row.version} promoted for {row.task}")

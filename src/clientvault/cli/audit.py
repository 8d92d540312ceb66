"""``clientvault audit``: check the keyed audit chain, take signed checkpoints, export its head.

The chain proves that no entry was edited, removed from the middle or moved; it cannot prove
by itself that the newest entries were not cut off, because the shortened chain is valid on
its own. Signed checkpoints are for that: ``audit checkpoint`` (and the worker, on a timer)
appends one to the configured directory, and ``audit verify`` checks the chain against every
one of them. ``audit head`` prints the head for a copy kept by hand (a ticket, a printout),
which ``audit verify --expected-head`` checks is still in the chain.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from clientvault.cli.common import (
    EXIT_FAILED,
    DataDirOption,
    console,
    err_console,
    load_settings,
    opened_store,
)
from clientvault.security import audit, audit_checkpoints
from clientvault.security.audit_query import log_summary, written_after

audit_app = typer.Typer(help="Check the audit log's hash chain; export its head.")

_HASH = re.compile(r"^[0-9a-f]{64}$")


def _hash_option(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _HASH.match(value):
        raise typer.BadParameter("a head is 64 hexadecimal characters (from `audit head`)")
    return value


@audit_app.command("verify")
def verify_command(
    data_dir: Path | None = DataDirOption,
    expected_head: str | None = typer.Option(
        None,
        "--expected-head",
        help="A head exported earlier with `audit head`: it must still be in the chain.",
        callback=_hash_option,
    ),
) -> None:
    """Walk the whole chain, against the signed checkpoints when a directory is configured;
    name the first broken entry and exit 1 if there is one."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        result = audit_checkpoints.verify(
            store, session, settings.audit, expected_head=expected_head
        )
        if result.ok:
            checked = " and contains the expected head" if expected_head else ""
            console.print(
                f"Audit log intact{checked}: {_entries(result.entries)}, head {result.head}."
            )
            _describe_coverage(result, settings.audit.checkpoint_dir)
            return
        err_console.print(f"[red]Audit log broken:[/red] {_explain(session, result)}")
    raise typer.Exit(EXIT_FAILED)


@audit_app.command("checkpoint")
def checkpoint_command(data_dir: Path | None = DataDirOption) -> None:
    """Sign the chain's head and ship it to the configured targets (the worker does it on a
    timer); a chain written before keyed hashes is sealed first."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        checkpoint = audit_checkpoints.take(store, settings.audit)
    targets = [
        str(settings.audit.checkpoint_dir / audit_checkpoints.FILE_NAME)
        if settings.audit.checkpoint_dir
        else None,
        f"syslog {settings.audit.checkpoint_syslog}" if settings.audit.checkpoint_syslog else None,
    ]
    console.print(
        f"Checkpoint of entry #{checkpoint.entry_id} (head {checkpoint.head}) signed and "
        f"written to {' and '.join(t for t in targets if t)}.",
        soft_wrap=True,
    )


@audit_app.command("head")
def head_command(data_dir: Path | None = DataDirOption) -> None:
    """Print the newest entry's hash (alone on standard output, for a script to keep).

    Export it right after a successful ``audit verify`` and keep it away from the database.
    """
    with opened_store(load_settings(data_dir)) as store, store.read_sessions() as session:
        head = audit.head(session)
        summary = log_summary(session)
    if summary.newest_at is None:
        err_console.print("The audit log is empty; this is the genesis value.")
    else:
        when = f"{summary.newest_at:%Y-%m-%d %H:%M:%S} UTC"
        err_console.print(
            f"Head of {_entries(summary.entries)} (newest #{summary.newest_id}, {when}). Check "
            "it later with `clientvault audit verify --expected-head HEAD`."
        )
    typer.echo(head)


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def _describe_coverage(result: audit.Verification, checkpoint_dir: Path | None) -> None:
    """Say what the check covered: checkpoints, and entries older than the keyed chain."""
    if checkpoint_dir is None:
        console.print(
            "No checkpoint directory is configured (CLIENTVAULT_AUDIT__CHECKPOINT_DIR): cutting "
            "off the newest entries is caught only with --expected-head."
        )
    else:
        console.print(
            f"Checked against {result.checkpoints} signed checkpoints in {checkpoint_dir}."
        )
    if result.legacy_entries:
        console.print(
            f"The first {_entries(result.legacy_entries)} were written before the chain was "
            "keyed; the seal entry after them covers their head."
        )


def _explain(session: Session, result: audit.Verification) -> str:
    """Say which entry breaks the chain and what most likely happened to it."""
    if result.broken_at is None and result.problem != audit.HEAD_GONE:
        return f"{result.problem}."
    if result.broken_at is None:
        return (
            f"the exported head is no longer in the chain of {_entries(result.entries)} (now "
            f"ending at {result.head}): the newest entries were deleted or rewritten."
        )
    where = f"entry #{result.broken_at} (after {_entries(result.entries - 1)} intact)"
    if result.problem == audit.CHANGED:
        return (
            f"{where}: its content no longer matches its keyed hash; it was edited, or "
            "rehashed without the audit key."
        )
    if result.problem == audit.NOT_CHECKPOINTED:
        return f"{where}: {result.problem}; it was rewritten after the checkpoint."
    follows = written_after(session, result.broken_at)
    if follows is not None:
        return (
            f"{where}: it does not follow the entry before it; it was written after entry "
            f"#{follows}, so entries were reordered."
        )
    return (
        f"{where}: it does not follow the entry before it, and the entry it was written after "
        "is gone: an entry before it was deleted (or rewritten with a new hash)."
    )

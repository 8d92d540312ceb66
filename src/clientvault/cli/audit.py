"""``clientvault audit``: check the hash-chained audit log, and export its head.

The chain proves that no entry was edited, removed from the middle or moved; it cannot prove
that the newest entries were not cut off, because the shortened chain is valid on its own.
That is what the exported head is for: ``audit head`` prints it to keep somewhere the
database's administrators cannot write (a ticket, a printout, another system), and
``audit verify --expected-head`` later checks it is still in the chain.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.cli.common import (
    EXIT_FAILED,
    DataDirOption,
    console,
    err_console,
    load_settings,
    opened_store,
)
from clientvault.security import audit
from clientvault.security.models import AuditEntry

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
    """Walk the whole chain; name the first broken entry and exit 1 if there is one."""
    with opened_store(load_settings(data_dir)) as store, store.read_sessions() as session:
        result = audit.verify(session, expected_head=expected_head)
        if result.ok:
            checked = " and contains the expected head" if expected_head else ""
            console.print(
                f"Audit log intact{checked}: {_entries(result.entries)}, head {result.head}."
            )
            return
        err_console.print(f"[red]Audit log broken:[/red] {_explain(session, result)}")
    raise typer.Exit(EXIT_FAILED)


@audit_app.command("head")
def head_command(data_dir: Path | None = DataDirOption) -> None:
    """Print the newest entry's hash (alone on standard output, for a script to keep).

    Export it right after a successful ``audit verify`` and keep it away from the database.
    """
    with opened_store(load_settings(data_dir)) as store, store.read_sessions() as session:
        head = audit.head(session)
        newest = session.execute(
            select(AuditEntry.id, AuditEntry.occurred_at).order_by(AuditEntry.id.desc()).limit(1)
        ).first()
        count = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    if newest is None:
        err_console.print("The audit log is empty; this is the genesis value.")
    else:
        when = f"{newest.occurred_at:%Y-%m-%d %H:%M:%S} UTC"
        err_console.print(
            f"Head of {_entries(count)} (newest #{newest.id}, {when}). Check it later with "
            "`clientvault audit verify --expected-head HEAD`."
        )
    typer.echo(head)


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def _explain(session: Session, result: audit.Verification) -> str:
    """Say which entry breaks the chain and what most likely happened to it."""
    if result.broken_at is None:
        return (
            f"the exported head is no longer in the chain of {_entries(result.entries)} (now "
            f"ending at {result.head}): the newest entries were deleted or rewritten."
        )
    where = f"entry #{result.broken_at} (after {_entries(result.entries - 1)} intact)"
    if result.problem == "its content was changed":
        return f"{where}: its content no longer matches its hash; it was edited."
    entry = session.get(AuditEntry, result.broken_at)
    follows = (
        session.scalar(select(AuditEntry.id).where(AuditEntry.entry_hash == entry.previous_hash))
        if entry is not None
        else None
    )
    if follows is not None:
        return (
            f"{where}: it does not follow the entry before it; it was written after entry "
            f"#{follows}, so entries were reordered."
        )
    return (
        f"{where}: it does not follow the entry before it, and the entry it was written after "
        "is gone: an entry before it was deleted (or rewritten with a new hash)."
    )

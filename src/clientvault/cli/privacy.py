"""``clientvault privacy``: erasure, export and the retention purge from the command line.

The operator at the console of the installation acts as the system principal ``cli`` with
the privacy permissions; every action is audited with the reason given.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer

from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.migrations.schema import load_holders
from clientvault.privacy.erasure import erase_customer
from clientvault.privacy.export import export_archive
from clientvault.privacy.retention import purge
from clientvault.security.principal import Principal
from clientvault.security.signing import public_key_pem

privacy_app = typer.Typer(
    help="Data-subject rights and retention: erase, export, purge.", no_args_is_help=True
)
#: The operator at the command line: may manage privacy and see what an export holds.
CLI_PRINCIPAL = Principal.system("cli", "privacy:manage", "pii:reveal", "pii:export")
ReasonOption = typer.Option(..., "--reason", help="Why (kept in the audit log; no personal data).")


@privacy_app.command("erase")
def erase_command(
    customer_id: uuid.UUID = typer.Argument(..., help="The customer to erase."),
    reason: str = ReasonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Erase a customer (and the profiles merged into it) everywhere; prints the signed
    certificate."""
    settings = load_settings(data_dir)
    load_holders()
    with opened_store(settings) as store, store.sessions.begin() as session:
        report = erase_customer(
            session,
            store,
            customer_id=customer_id,
            principal=CLI_PRINCIPAL,
            reason=reason,
            mode=settings.retention.erasure_mode,
        )
    console.print(f"Erased {len(report.customer_ids)} profile(s); erasure {report.erasure_id}.")
    console.print_json(
        json.dumps({"certificate": report.certificate, "signature": report.signature})
    )


@privacy_app.command("export")
def export_command(
    customer_id: uuid.UUID = typer.Argument(..., help="The customer whose data to export."),
    output: Path = typer.Option(..., "--output", "-o", dir_okay=False, help="The zip to write."),
    reason: str = ReasonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Write a customer's data (JSON + one CSV per holder + the JSON Schema) to a zip."""
    settings = load_settings(data_dir)
    load_holders()
    with opened_store(settings) as store, store.sessions.begin() as session:
        archive = export_archive(
            session, store, customer_id=customer_id, principal=CLI_PRINCIPAL, reason=reason
        )
    output.write_bytes(archive)
    output.chmod(0o600)
    console.print(f"Wrote {output} ({len(archive):,} bytes).")


@privacy_app.command("purge")
def purge_command(data_dir: Path | None = DataDirOption) -> None:
    """Apply the retention rules now (what the worker does on its timer)."""
    settings = load_settings(data_dir)
    load_holders()
    policy = settings.retention
    with opened_store(settings) as store, store.sessions.begin() as session:
        report = purge(
            session,
            store,
            principal=CLI_PRINCIPAL,
            holder_months=policy.holder_months,
            inactive_customer_months=policy.inactive_customer_months,
            max_customers=policy.max_customers_per_run,
            mode=policy.erasure_mode,
        )
    for holder, rows in sorted(report.rows.items()):
        console.print(f"{holder}: {rows} row(s) older than {report.cutoffs[holder]:%Y-%m-%d}")
    console.print(f"Inactive customers erased: {report.customers_erased}")


@privacy_app.command("public-key")
def public_key_command(data_dir: Path | None = DataDirOption) -> None:
    """Print the public key that verifies erasure certificates and audit checkpoints (PEM)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store:
        console.print(public_key_pem(store), highlight=False)

"""``clientvault dsr``: data-subject requests from the command line.

The operator acts as the system principal ``cli`` with the privacy permissions (as in
``clientvault privacy``); every step is audited by the services, which also refuse to carry
out a request whose requester has not verified their identity.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import typer
from rich.table import Table

from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.cli.privacy import CLI_PRINCIPAL
from clientvault.migrations.schema import load_holders
from clientvault.privacy.requests import lifecycle
from clientvault.privacy.requests.models import REGIMES, REQUEST_KINDS, DataSubjectRequest
from clientvault.privacy.requests.schemas import RequestRead
from clientvault.settings import PrivacySettings

dsr_app = typer.Typer(
    help="Data-subject requests: list, show, create, verify-link, extend, complete, refuse.",
    no_args_is_help=True,
)
RequestArgument = typer.Argument(..., help="The request's id.")
STATE_STYLES = {"overdue": "bold red", "due_soon": "yellow", "on_time": "green", "closed": "dim"}


def _read(dsr: DataSubjectRequest, policy: PrivacySettings) -> RequestRead:
    return RequestRead.of(dsr, today=lifecycle.today_utc(), due_soon_days=policy.due_soon_days)


def _describe(read: RequestRead) -> None:
    style = STATE_STYLES[read.deadline]
    console.print(
        f"Request [bold]{read.id}[/bold]: {read.regime.upper()} {read.kind}, {read.status}; "
        f"due {read.due_on.isoformat()} [{style}]({read.deadline.replace('_', ' ')}, "
        f"{read.days_left} day(s) left)[/{style}]",
        highlight=False,
    )


@dsr_app.command("list")
def list_command(
    data_dir: Path | None = DataDirOption,
    all_requests: bool = typer.Option(False, "--all", help="Closed requests too."),
) -> None:
    """Requests, soonest due first, with their deadlines."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        found = [
            _read(r, settings.privacy)
            for r in lifecycle.list_requests(session, open_only=not all_requests)
        ]
    table = Table("id", "kind", "law", "status", "received", "due", "deadline")
    for read in found:
        style = STATE_STYLES[read.deadline]
        table.add_row(
            str(read.id),
            read.kind,
            read.regime.upper(),
            read.status,
            read.received_at.strftime("%Y-%m-%d"),
            read.due_on.isoformat(),
            f"[{style}]{read.deadline.replace('_', ' ')}[/{style}]",
        )
    console.print(table if found else "No requests.")


@dsr_app.command("show")
def show_command(
    request_id: uuid.UUID = RequestArgument, data_dir: Path | None = DataDirOption
) -> None:
    """One request as JSON (ids, dates and states; no personal data)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        read = _read(lifecycle.get_request(session, request_id), settings.privacy)
    console.print_json(read.model_dump_json())


@dsr_app.command("create")
def create_command(
    kind: str = typer.Option(..., "--kind", help=f"One of {', '.join(REQUEST_KINDS)}."),
    email: str | None = typer.Option(None, "--email", help="The e-mail the requester wrote from."),
    customer_id: uuid.UUID | None = typer.Option(None, "--customer-id", help="Or the customer."),
    regime: str = typer.Option("gdpr", "--regime", help=f"One of {', '.join(REGIMES)}."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Record a request; the customer is e-mailed a receipt and a verification link."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.sessions.begin() as session:
        dsr = lifecycle.create_request(
            session,
            store,
            policy=settings.privacy,
            intake=lifecycle.Intake(
                customer_id=lifecycle.resolve_customer(
                    session, store, customer_id=customer_id, email=email
                ),
                kind=kind,
                regime=regime,
                channel="cli",
            ),
            principal=CLI_PRINCIPAL,
        )
        read = _read(dsr, settings.privacy)
    _describe(read)


def _perform(
    data_dir: Path | None, request_id: uuid.UUID, action: lifecycle.Action, text: str | None = None
) -> RequestRead:
    """Run one staff step through the lifecycle's shared table, as the CLI principal."""
    settings = load_settings(data_dir)
    step = lifecycle.Step(
        action=action,
        request_id=request_id,
        principal=CLI_PRINCIPAL,
        policy=settings.privacy,
        text=text,
        erasure_mode=settings.retention.erasure_mode,
    )
    with opened_store(settings) as store, store.sessions.begin() as session:
        read = _read(lifecycle.perform(session, store, step), settings.privacy)
    _describe(read)
    return read


@dsr_app.command("verify-link")
def verify_link_command(
    request_id: uuid.UUID = RequestArgument, data_dir: Path | None = DataDirOption
) -> None:
    """E-mail the requester a new single-use verification link.

    The link is never shown here: only the requester's mailbox proves who they are.
    """
    _perform(data_dir, request_id, "verification")
    console.print("A new verification link was queued for the requester.")


@dsr_app.command("extend")
def extend_command(
    request_id: uuid.UUID = RequestArgument,
    reason: str = typer.Option(..., "--reason", help="Why (sent to the requester)."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Extend the deadline once (GDPR: two more months; CCPA: 45 more days)."""
    _perform(data_dir, request_id, "extend", reason)


@dsr_app.command("complete")
def complete_command(
    request_id: uuid.UUID = RequestArgument,
    note: str | None = typer.Option(None, "--note", help="What was done (no personal data)."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Carry out a verified request (export, erasure, restriction…) and close it."""
    load_holders()
    read = _perform(data_dir, request_id, "complete", note)
    console.print(f"Outcome: {read.outcome}", highlight=False)


@dsr_app.command("refuse")
def refuse_command(
    request_id: uuid.UUID = RequestArgument,
    reason: str = typer.Option(..., "--reason", help="Why (sent to the requester)."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Close a request without carrying it out."""
    _perform(data_dir, request_id, "refuse", reason)

"""``clientvault customers list``: the customer list at the command line, with the same
filters, sorts, search and keyset pages as the console and ``GET /api/v1/customers``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.customers.search import CustomerListQuery, list_customers
from clientvault.errors import InvalidInput
from clientvault.security.principal import PII_REVEAL, Principal

customers_app = typer.Typer(help="The customer list: filters, sorts, search and pages.")
#: The operator at the command line: reads the list and may search by e-mail, phone or name.
CLI_READER = Principal.system("cli", "customers:read", PII_REVEAL)


@customers_app.command("list")
def list_command(
    data_dir: Path | None = DataDirOption,
    search: str | None = typer.Option(
        None, "--search", "-q", help="Id, user id, external id, e-mail, phone or full name."
    ),
    status: str | None = typer.Option(None, help="active (default) or merged."),
    country: str | None = typer.Option(None, help="ISO code or name."),
    source: str | None = typer.Option(None, help="The source that created the profile."),
    created_from: datetime | None = typer.Option(None, formats=["%Y-%m-%d"]),
    created_to: datetime | None = typer.Option(None, formats=["%Y-%m-%d"]),
    orders: bool | None = typer.Option(None, "--orders/--no-orders", help="Has orders or not."),
    consent: str | None = typer.Option(None, help="May be processed for this purpose."),
    sort: str = typer.Option(
        "created", help="created, updated, last_seen, orders, revenue, country or city."
    ),
    ascending: bool = typer.Option(False, "--asc/--desc", help="Sort order."),
    limit: int = typer.Option(50, min=1, max=200, help="Rows per page."),
    cursor: str | None = typer.Option(None, help="The next page's cursor a run printed."),
) -> None:
    """One page of customers; prints the cursor of the next page, if any."""
    settings = load_settings(data_dir)
    try:
        query = CustomerListQuery(
            q=search,
            status=status,
            country=country,
            source=source,
            created_from=created_from.date() if created_from else None,
            created_to=created_to.date() if created_to else None,
            has_orders=orders,
            consent=consent,
            sort=sort,
            direction="asc" if ascending else "desc",
            cursor=cursor,
            limit=limit,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{error['loc'][0]}: {error['msg']}" for error in exc.errors())
        raise typer.BadParameter(problems) from None
    with opened_store(settings) as store, store.read_sessions() as session, session.begin():
        try:
            page = list_customers(
                session,
                store,
                query=query,
                viewer=CLI_READER,
                default_region=settings.default_phone_region,
            )
        except InvalidInput as exc:
            raise typer.BadParameter(exc.message) from None
    table = Table()
    table.add_column("id", no_wrap=True)  # whole, to be copied
    for name in ("e-mail", "country", "city", "created", "last seen", "orders", "revenue"):
        table.add_column(name)
    for row in page.items:
        table.add_row(
            str(row.id),
            row.email_hint or "—",
            row.country or "—",
            row.city or "—",
            f"{row.created_at:%Y-%m-%d}",
            f"{row.last_seen_at:%Y-%m-%d}",
            str(row.orders),
            f"{row.revenue:.2f}",
        )
    console.print(table)
    if page.matched_by:
        console.print(f"Searched as: {', '.join(page.matched_by)}.")
    if page.next_cursor:
        console.print("Next page: --cursor", highlight=False)
        console.print(page.next_cursor, soft_wrap=True, highlight=False, markup=False)

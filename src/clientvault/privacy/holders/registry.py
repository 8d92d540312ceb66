"""The registry of personal-data holders (DESIGN.md §3): every domain that stores data about a
customer declares it here — which tables, categories of data, purposes, retention, sources and
recipients — and implements how to export it (Art. 15 / 20) and how to erase it (Art. 17).

Export and erasure walk this registry, which is how they reach domains above ``privacy``
without importing them: ``ingest`` registers its tables from ``clientvault.ingest.holders``,
and a composition point above every domain (``clientvault.migrations.schema.load_holders``,
called by the app, the CLI and the worker) imports every holder module. ``check_coverage``
refuses to export or erase while a table that names customers has no holder, so a holder
module that was not loaded (or a new table nobody declared) stops the operation instead of
leaving data behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import MetaData, Select, delete, select
from sqlalchemy.orm import Session

from clientvault.errors import ConfigurationError
from clientvault.security.principal import Principal
from clientvault.store.base import Base, table_of
from clientvault.store.context import Store

ErasureMode = Literal["delete", "anonymise"]
ErasureAction = Literal["deleted", "anonymised", "retained"]
#: Tables of the erasure register itself: they hold erased ids on purpose (privacy.erasure).
REGISTER_TABLES = frozenset({"erasures", "erased_customers", "erasure_tombstones"})


@dataclass(frozen=True)
class HolderContext:
    """What a holder's export, erase or purge runs with."""

    session: Session
    store: Store
    principal: Principal
    reason: str
    #: For holders that can keep anonymised aggregates (events, orders): which to do.
    mode: ErasureMode = "anonymise"


@dataclass(frozen=True)
class HolderErasure:
    """What one holder did with one person's data."""

    action: ErasureAction
    rows: int


Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Holder:
    """A declaration of personal data held by a domain, and how to export and erase it.

    ``export`` returns JSON-able rows about the customer ids (one person: a profile and the
    profiles merged into it); ``erase`` deletes or anonymises them; ``identifiers`` (optional)
    returns the blind indexes this holder keeps for them (they become erasure tombstones);
    ``purge`` (optional) removes what is older than a cutoff (retention); ``activity``
    (optional) is a query of customer ids active since a moment (inactivity retention).
    Holders erase in ``erase_order`` (low first): dependent rows before the profile itself.
    """

    name: str
    domain: str
    description: str
    tables: tuple[str, ...]
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    retention: str
    sources: tuple[str, ...]
    recipients: tuple[str, ...]
    export: Callable[[HolderContext, Sequence[uuid.UUID]], Rows]
    erase: Callable[[HolderContext, Sequence[uuid.UUID]], HolderErasure]
    identifiers: Callable[[HolderContext, Sequence[uuid.UUID]], list[bytes]] | None = None
    purge: Callable[[HolderContext, datetime], int] | None = None
    activity: Callable[[datetime], Select[Any]] | None = None
    erase_order: int = 100

    def describe(self) -> dict[str, Any]:
        """The declaration without its functions (exports and records of processing show it)."""
        return {
            "name": self.name,
            "domain": self.domain,
            "description": self.description,
            "categories": list(self.categories),
            "purposes": list(self.purposes),
            "retention": self.retention,
            "sources": list(self.sources),
            "recipients": list(self.recipients),
        }


def rows_of(
    session: Session,
    model: type[Base],
    *,
    customer_ids: Sequence[uuid.UUID],
    exclude: Sequence[str] = (),
) -> Rows:
    """Every column of a model's rows that belong to these customers (``customer_id``),
    except ``exclude`` (blind indexes, sealed values): the plain export of a simple holder."""
    table = table_of(model)
    columns = [column for column in table.columns if column.name not in exclude]
    rows = session.execute(
        select(*columns)
        .where(table.c.customer_id.in_(list(customer_ids)))
        .order_by(*table.primary_key.columns)
    )
    return [dict(row._mapping) for row in rows]


def delete_rows(
    session: Session, model: type[Base], *, customer_ids: Sequence[uuid.UUID]
) -> HolderErasure:
    """Delete a model's rows that belong to these customers (``customer_id``)."""
    table = table_of(model)
    result = session.execute(delete(table).where(table.c.customer_id.in_(list(customer_ids))))
    return HolderErasure("deleted", int(result.rowcount))  # type: ignore[attr-defined]


def plain_table(
    model: type[Base],
) -> tuple[
    Callable[[HolderContext, Sequence[uuid.UUID]], Rows],
    Callable[[HolderContext, Sequence[uuid.UUID]], HolderErasure],
]:
    """The ``export`` and ``erase`` of a holder whose rows are simply the model's rows naming
    the customers (``rows_of`` every column, ``delete_rows``): most derived data."""

    def export(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
        return rows_of(ctx.session, model, customer_ids=customer_ids)

    def erase(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
        return delete_rows(ctx.session, model, customer_ids=customer_ids)

    return export, erase


_HOLDERS: dict[str, Holder] = {}


def register_holder(holder: Holder) -> Holder:
    """Register (or re-register, on module reload) a holder under its name."""
    _HOLDERS[holder.name] = holder
    return holder


def registered_holders() -> list[Holder]:
    """Every registered holder, in erasure order (then by name)."""
    return sorted(_HOLDERS.values(), key=lambda h: (h.erase_order, h.name))


def uncovered_tables(metadata: MetaData | None = None) -> list[str]:
    """Tables of the main database (``metadata``, default: every model's) that name customers
    (a ``customer_id`` column or a foreign key to ``customers``) but no registered holder
    declares."""
    covered = {table for holder in _HOLDERS.values() for table in holder.tables}
    names = [
        table.name
        for table in (metadata or Base.metadata).sorted_tables
        if table.name == "customers"
        or "customer_id" in table.c
        or any(fk.column.table.name == "customers" for fk in table.foreign_keys)
    ]
    return sorted(n for n in names if n not in covered and n not in REGISTER_TABLES)


def check_coverage() -> None:
    """Refuse to go on while some table holding customer data has no registered holder."""
    missing = uncovered_tables()
    if missing:
        raise ConfigurationError(
            "tables naming customers have no personal-data holder: "
            f"{', '.join(missing)} (register one with clientvault.privacy.holders.registry."
            "register_holder, imported from clientvault.migrations.schema.load_holders)"
        )

"""Writing planned batches: profiles (validated by the planner) through the real
``create_prepared_customers`` path (data keys created, fields sealed, blind-indexed), then the
batch's events, orders, order lines, refunds, consent decisions and extra identifiers in the
same transaction, each table with one driver ``executemany``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, text
from sqlalchemy.orm import Session

from clientvault.demo.catalogue import CURRENCY, Catalogue
from clientvault.demo.planner import EVENT_COLUMNS, SOURCE, Codecs, PlannedBatch
from clientvault.identity.profiles import create_prepared_customers
from clientvault.ingest.commerce.models import Product
from clientvault.store.context import Store
from clientvault.store.engine import bulk_writing

_NEXTVAL = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")


def ensure_products(connection: Connection, catalogue: Catalogue) -> dict[str, int]:
    """Insert the catalogue's products that are not there yet; return SKU → ``products.id``.

    Runs with different seeds share the catalogue, so existing products are reused.
    """
    skus = [product.sku for product in catalogue.products]
    query = select(Product.sku, Product.id).where(Product.sku.in_(skus))
    existing = {sku: product_id for sku, product_id in connection.execute(query)}
    missing = [
        {
            "sku": product.sku,
            "name": product.name,
            "category": product.category,
            "price": product.price,
            "currency": CURRENCY,
        }
        for product in catalogue.products
        if product.sku not in existing
    ]
    if missing:
        connection.execute(insert(Product), missing)
        existing = {sku: product_id for sku, product_id in connection.execute(query)}
    return existing


def reserve_ids(connection: Connection, table: Table, count: int) -> Sequence[int]:
    """``count`` new primary-key values for ``table``, reserved for this transaction.

    PostgreSQL: drawn from the column's sequence, so concurrent writers never get them.
    SQLite: the ids after the largest, which is safe because the caller's transaction holds
    the database's write lock (it has written already: ``BEGIN IMMEDIATE``).
    """
    if count == 0:
        return ()
    if connection.dialect.name == "postgresql":
        return list(connection.execute(_NEXTVAL, {"table": table.name, "n": count}).scalars())
    largest = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return range(int(largest) + 1, int(largest) + 1 + count)


class BatchWriter:
    """Writes planned batches into a store, in transactions of one or more batches, all on
    one database connection (``open``) that keeps its page cache from one to the next."""

    def __init__(self, store: Store, codecs: Codecs) -> None:
        if codecs.events.columns != EVENT_COLUMNS:  # ``_events`` unpacks rows in this order
            raise ValueError("the events codec must have the planner's EVENT_COLUMNS")
        self.store = store
        self.codecs = codecs
        self._connection: Connection | None = None
        self._session: Session | None = None

    @contextmanager
    def open(self) -> Iterator[BatchWriter]:
        """Hold a connection for the run, set up for bulk writing (``store.engine.bulk_writing``:
        on SQLite, a page cache that keeps the pages every batch touches all over from one
        transaction to the next)."""
        with self.store.engine.connect() as connection, bulk_writing(connection):
            self._connection = connection
            try:
                yield self
            finally:
                self._connection = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction for ``write``: committed on exit, rolled back on an exception."""
        if self._connection is None:
            raise RuntimeError("BatchWriter.transaction outside BatchWriter.open()")
        with Session(bind=self._connection) as session, session.begin():
            self._session = session
            try:
                yield
            finally:
                self._session = None

    def write(self, batch: PlannedBatch) -> list[uuid.UUID]:
        """Write one batch in the current ``transaction``; return the new customers' ids in
        batch order."""
        session = self._session
        if session is None:
            raise RuntimeError("BatchWriter.write outside BatchWriter.transaction()")
        codecs = self.codecs
        # Sealed and blind-indexed here (the keys never leave this process), dated from
        # the customer's sign-up: their e-mail and phone identities are dated alike.
        ids = create_prepared_customers(
            session,
            self.store,
            prepared=batch.profiles,
            source=SOURCE,
            created_at=batch.signups,
        )
        connection = session.connection()
        customers = [codecs.events.convert("customer_id", i) for i in ids]
        event_ids = reserve_ids(connection, codecs.events.table, len(batch.events))
        order_ids = reserve_ids(connection, codecs.orders.table, len(batch.orders))

        blind = self._blind_indexes()
        events = self._events(batch.events, customers, event_ids, blind)
        _fill(batch.orders, codecs.orders.slot("id"), order_ids)
        _fill(batch.orders, codecs.orders.slot("customer_id"), customers)
        _fill(batch.items, codecs.items.slot("order_id"), order_ids)
        _fill(batch.refunds, codecs.refunds.slot("order_id"), order_ids)
        _fill(batch.refunds, codecs.refunds.slot("event_id"), event_ids)
        _fill(batch.consents, codecs.consents.slot("customer_id"), customers)
        self._identities(batch.identities, customers, blind)

        if events:
            connection.exec_driver_sql(codecs.events.sql, events)
        for codec, rows in (
            (codecs.orders, batch.orders),
            (codecs.items, batch.items),
            (codecs.refunds, batch.refunds),
            (codecs.consents, batch.consents),
            (codecs.identities, batch.identities),
        ):
            if rows:
                connection.exec_driver_sql(codec.sql, [tuple(row) for row in rows])
        return ids

    def _events(
        self,
        rows: list[list[Any]],
        customers: list[Any],
        event_ids: Sequence[int],
        blind: Callable[[str, str], bytes],
    ) -> list[tuple[Any, ...]]:
        """The batch's event rows for the driver, placeholders replaced (one pass: there are
        a dozen events per customer)."""
        codec = self.codecs.events
        anonymous = _indexer(blind, "anonymous_id", codec.processor("anonymous_index"))
        users = _indexer(blind, "user_id", codec.processor("user_index"))
        return [
            (
                event_ids[position],
                message,
                kind,
                name,
                customers[customer],
                None if device is None else anonymous(device),
                users(user),
                occurred,
                received,
                source,
                properties,
                context,
            )
            for (
                position,
                message,
                kind,
                name,
                customer,
                device,
                user,
                occurred,
                received,
                source,
                properties,
                context,
            ) in rows
        ]

    def _identities(
        self, rows: list[list[Any]], customers: list[Any], blind: Callable[[str, str], bytes]
    ) -> None:
        codec = self.codecs.identities
        customer_slot, kind_slot = codec.slot("customer_id"), codec.slot("kind")
        value_slot = codec.slot("value_index")
        convert = codec.processor("value_index") or _same
        for row in rows:
            row[customer_slot] = customers[row[customer_slot]]
            row[value_slot] = convert(blind(row[kind_slot], row[value_slot]))

    def _blind_indexes(self) -> Callable[[str, str], bytes]:
        """``(kind, raw identifier) → blind index``, cached for one batch (events and
        identities show the same user and device ids)."""
        cache: dict[tuple[str, str], bytes] = {}
        index = self.store.index

        def lookup(kind: str, value: str) -> bytes:
            key = (kind, value)
            found = cache.get(key)
            if found is None:
                found = cache[key] = index(kind, value)
            return found

        return lookup


def _indexer(
    blind: Callable[[str, str], bytes], kind: str, convert: Callable[[Any], Any] | None
) -> Callable[[str], Any]:
    """``raw identifier → blind index in a column's driver form``, cached for one batch."""
    cache: dict[str, Any] = {}
    convert = convert or _same

    def lookup(value: str) -> Any:
        found = cache.get(value)
        if found is None:
            found = cache[value] = convert(blind(kind, value))
        return found

    return lookup


def _same(value: Any) -> Any:
    return value


def _fill(rows: list[list[Any]], slot: int, values: Sequence[Any]) -> None:
    for row in rows:
        row[slot] = values[row[slot]]

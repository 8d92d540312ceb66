"""Writing planned batches: profiles through the real ``create_customers`` path (sealed,
blind-indexed), then the batch's events, orders, order lines, consent decisions and extra
identifiers in the same transaction, with the driver's ``executemany``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from clientvault.demo.catalogue import CURRENCY, Catalogue
from clientvault.demo.planner import SOURCE, Codecs, PlannedBatch
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.identity.profiles import create_customers
from clientvault.ingest.models import Order, Product
from clientvault.store.context import Store

_customers = Customer.__table__
_identities = CustomerIdentity.__table__
_BACKDATE_CUSTOMERS = (
    update(_customers)
    .where(_customers.c.id == bindparam("customer"))
    .values(created_at=bindparam("signed_up"), updated_at=bindparam("signed_up"))
)
_BACKDATE_IDENTITIES = (
    update(_identities)
    .where(_identities.c.customer_id == bindparam("customer"))
    .values(first_seen_at=bindparam("signed_up"), last_seen_at=bindparam("signed_up"))
)


def ensure_products(connection: Connection, catalogue: Catalogue) -> dict[str, int]:
    """Insert the catalogue's products that are not there yet; return SKU → ``products.id``.

    Runs with different seeds share the catalogue, so existing products are reused.
    """
    skus = [product.sku for product in catalogue.products]
    query = select(Product.sku, Product.id).where(Product.sku.in_(skus))
    existing = {sku: product_id for sku, product_id in connection.execute(query).tuples()}
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
        existing = {sku: product_id for sku, product_id in connection.execute(query).tuples()}
    return existing


def next_order_id(connection: Connection) -> int:
    """The first free ``orders.id`` (demo orders get explicit ids so their lines can point at
    them without a round trip per order)."""
    return int(connection.execute(select(func.coalesce(func.max(Order.id), 0))).scalar_one()) + 1


class BatchWriter:
    """Writes planned batches into a store, one transaction per batch."""

    def __init__(self, store: Store, codecs: Codecs, *, default_region: str) -> None:
        self.store = store
        self.codecs = codecs
        self.default_region = default_region
        self.postgresql = store.engine.dialect.name == "postgresql"

    def write(self, batch: PlannedBatch) -> list[uuid.UUID]:
        """Write one batch atomically; return the new customers' ids in batch order."""
        with self.store.sessions.begin() as session:
            ids = create_customers(
                session,
                self.store,
                profiles=batch.profiles,
                source=SOURCE,
                default_region=self.default_region,
            )
            connection = session.connection()
            self._backdate(connection, ids, batch.signups)
            customer = [self.codecs.events.convert("customer_id", i) for i in ids]
            self._events(connection, batch.events, customer)
            self._identities(connection, batch.identities, customer)
            codecs = self.codecs
            _fill(batch.orders, codecs.orders.slot("customer_id"), customer)
            _fill(batch.consents, codecs.consents.slot("customer_id"), customer)
            _executemany(connection, codecs.orders.sql, batch.orders)
            _executemany(connection, codecs.items.sql, batch.items)
            _executemany(connection, codecs.consents.sql, batch.consents)
            if self.postgresql and batch.orders:
                connection.execute(
                    text("SELECT setval(pg_get_serial_sequence('orders', 'id'), max(id)) FROM orders")
                )
        return ids

    def _backdate(
        self, connection: Connection, ids: Sequence[uuid.UUID], signups: Sequence[datetime]
    ) -> None:
        """Profiles date from the customer's sign-up, not from the demo run."""
        rows = [{"customer": i, "signed_up": at} for i, at in zip(ids, signups, strict=True)]
        connection.execute(_BACKDATE_CUSTOMERS, rows)
        connection.execute(_BACKDATE_IDENTITIES, rows)

    def _events(self, connection: Connection, rows: list[list[Any]], customer: list[Any]) -> None:
        codec = self.codecs.events
        customer_slot = codec.slot("customer_id")
        anonymous_slot = codec.slot("anonymous_index")
        user_slot = codec.slot("user_index")
        anonymous = self._indexer("anonymous_id", codec.convert, "anonymous_index")
        users = self._indexer("user_id", codec.convert, "user_index")
        for row in rows:
            row[customer_slot] = customer[row[customer_slot]]
            value = row[anonymous_slot]
            if value is not None:
                row[anonymous_slot] = anonymous(value)
            row[user_slot] = users(row[user_slot])
        _executemany(connection, codec.sql, rows)

    def _identities(
        self, connection: Connection, rows: list[list[Any]], customer: list[Any]
    ) -> None:
        codec = self.codecs.identities
        customer_slot, kind_slot, value_slot = (
            codec.slot("customer_id"),
            codec.slot("kind"),
            codec.slot("value_index"),
        )
        for row in rows:
            row[customer_slot] = customer[row[customer_slot]]
            index = self.store.index(row[kind_slot], row[value_slot])
            row[value_slot] = codec.convert("value_index", index)
        _executemany(connection, codec.sql, rows)

    def _indexer(self, kind: str, convert: Any, column: str) -> Any:
        """A cached ``raw identifier → converted blind index`` function for one batch."""
        cache: dict[str, Any] = {}
        index = self.store.index

        def lookup(value: str) -> Any:
            found = cache.get(value)
            if found is None:
                found = cache[value] = convert(column, index(kind, value))
            return found

        return lookup


def _fill(rows: list[list[Any]], slot: int, customer: list[Any]) -> None:
    for row in rows:
        row[slot] = customer[row[slot]]


def _executemany(connection: Connection, sql: str, rows: list[list[Any]]) -> None:
    if rows:
        connection.exec_driver_sql(sql, [tuple(row) for row in rows])

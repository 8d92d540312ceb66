"""Growing a generated SQLite installation by cloning its customers (bench set-up only).

Generating 1M demo customers takes over an hour; erasure cost depends on table and index
sizes, not on how realistic the clones are. Each copy gives every original customer a twin
with a new id and random blind indexes, with their identifiers, events, orders (without
lines) and consent records, and a data-key row in the keystore (a copy of the original's
wrapped key: it is destroyed by erasure, never unwrapped).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table

from clientvault.migrations.schema import DATA_METADATA
from clientvault.store.context import Store

COPY = "bench-copy"
_RANDOM_INDEX = "CASE WHEN {c} IS NULL THEN NULL ELSE randomblob(32) END"
#: Per table: the join column and the expressions replacing some columns (``{k}``: copy no.).
_PLANS: dict[str, tuple[str, dict[str, str]]] = {
    "customers": (
        "id",
        {
            "id": "m.new",
            "source": f"'{COPY}'",
            "merged_into_id": "NULL",
            "email_index": _RANDOM_INDEX.format(c="t.email_index"),
            "phone_index": _RANDOM_INDEX.format(c="t.phone_index"),
        },
    ),
    "customer_identities": (
        "customer_id",
        {"customer_id": "m.new", "value_index": "randomblob(32)"},
    ),
    "events": (
        "customer_id",
        {
            "customer_id": "m.new",
            "message_id": "t.message_id || '~{k}'",
            "anonymous_index": _RANDOM_INDEX.format(c="t.anonymous_index"),
            "user_index": _RANDOM_INDEX.format(c="t.user_index"),
        },
    ),
    "orders": ("customer_id", {"customer_id": "m.new", "external_id": "t.external_id || '~{k}'"}),
    "consent_ledger": ("customer_id", {"customer_id": "m.new"}),
}


def _clone_sql(table: Table, join: str, overrides: dict[str, str], copy: int) -> str:
    columns = [c.name for c in table.columns if c.name != "id" or "id" in overrides]
    values = [overrides.get(c, f"t.{c}").format(k=copy) for c in columns]
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(values)} "
        f"FROM {table.name} t JOIN temp.idmap m ON m.old = t.{join}"
    )


def replicate(store: Store, copies: int) -> None:
    """Make the installation ``copies`` times as large (SQLite only)."""
    assert store.engine.dialect.name == "sqlite"
    data = store.engine.raw_connection()
    keys = store.keystore.engine.raw_connection()
    try:
        cursor, key_cursor = data.cursor(), keys.cursor()
        originals = key_cursor.execute(
            "SELECT customer_id, key_version, kek_version, wrapped_key, created_at FROM data_keys"
        ).fetchall()
        for copy in range(1, copies):
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("DROP TABLE IF EXISTS temp.idmap")
            cursor.execute("CREATE TEMP TABLE idmap (old TEXT PRIMARY KEY, new TEXT NOT NULL)")
            cursor.execute(
                "INSERT INTO temp.idmap SELECT id, lower(hex(randomblob(16))) FROM customers "
                f"WHERE source IS NOT '{COPY}'"
            )
            for name, (join, overrides) in _PLANS.items():
                cursor.execute(_clone_sql(DATA_METADATA.tables[name], join, overrides, copy))
            mapping = dict(cursor.execute("SELECT old, new FROM temp.idmap").fetchall())
            cursor.execute("COMMIT")
            rows: list[tuple[Any, ...]] = [
                (uuid.uuid4().hex, mapping[old], version, kek, wrapped, created)
                for old, version, kek, wrapped, created in originals
                if old in mapping
            ]
            key_cursor.execute("BEGIN IMMEDIATE")
            key_cursor.executemany(
                "INSERT INTO data_keys (key_id, customer_id, key_version, kek_version, "
                "wrapped_key, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            key_cursor.execute("COMMIT")
    finally:
        data.close()
        keys.close()

"""Growing a generated SQLite installation by cloning its customers (bench set-up only).

Generating 1M demo customers takes over an hour; erasure and backup costs depend on table
and index sizes, not on how realistic the clones are. Each copy gives every original customer
a twin with their identifiers, events, orders (without lines) and consent records, and (unless
``keys=False``) a data-key row in the keystore (a copy of the original's wrapped key: it is
destroyed by erasure, never unwrapped).

Seeded and generated at SQL level: one ``INSERT ... SELECT`` per table for all the copies
asked for (a temporary id map holds every twin's id and copy number). A twin's id and blind
indexes are derived from the original's and the copy number (a keyed BLAKE2b of the two for the
blind indexes, as random-looking as an HMAC), so the same seed gives the same database. The
copying runs with the journal off and the secondary indexes dropped, then rebuilt once (a
sorted build instead of millions of random B-tree inserts): 1M customers in minutes.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import Table

from clientvault.migrations.schema import DATA_METADATA
from clientvault.store.context import Store
from clientvault.store.file_modes import sqlite_file
from clientvault.store.wal_checkpoints import WalCheckpointer

COPY = "bench-copy"
_TWIN = "CASE WHEN {c} IS NULL THEN NULL ELSE twin({c}, m.k) END"
#: Per table: the join column and the expressions replacing some columns.
_PLANS: dict[str, tuple[str, dict[str, str]]] = {
    "customers": (
        "id",
        {
            "id": "m.new",
            "source": f"'{COPY}'",
            "merged_into_id": "NULL",
            "email_index": _TWIN.format(c="t.email_index"),
            "phone_index": _TWIN.format(c="t.phone_index"),
        },
    ),
    "customer_identities": (
        "customer_id",
        {"customer_id": "m.new", "value_index": _TWIN.format(c="t.value_index")},
    ),
    "events": (
        "customer_id",
        {
            "customer_id": "m.new",
            "message_id": "t.message_id || '~' || m.k",
            "anonymous_index": _TWIN.format(c="t.anonymous_index"),
            "user_index": _TWIN.format(c="t.user_index"),
        },
    ),
    "orders": (
        "customer_id",
        {"customer_id": "m.new", "external_id": "t.external_id || '~' || m.k"},
    ),
    "consent_ledger": ("customer_id", {"customer_id": "m.new"}),
}
#: A twin's id: the original's first 24 hex digits (time and random bits) and the copy number.
_TWIN_ID = "substr(c.id, 1, 24) || printf('%08x', n.k)"


def _clone_sql(table: Table, join: str, overrides: dict[str, str]) -> str:
    columns = [c.name for c in table.columns if c.name != "id" or "id" in overrides]
    values = [overrides.get(c, f"t.{c}") for c in columns]
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(values)} "
        f"FROM temp.idmap m JOIN {table.name} t ON t.{join} = m.old"
    )


def _twin_function(seed: int) -> object:
    key = seed.to_bytes(8, "big")

    def twin(value: bytes | str, copy: int) -> bytes:
        raw = value.encode() if isinstance(value, str) else value
        data = raw + copy.to_bytes(4, "big")
        return hashlib.blake2b(data, digest_size=len(raw), key=key).digest()

    return twin


@contextmanager
def _bulk(path: Path, seed: int) -> Iterator[sqlite3.Connection]:
    """A connection of its own for bulk copying: no journal, a large cache, and the journal
    mode the store uses (WAL) set back after."""
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1048576")  # 1 GiB
        connection.execute("PRAGMA temp_store=MEMORY")
        connection.create_function("twin", 2, _twin_function(seed), deterministic=True)
        try:
            yield connection
        finally:
            connection.execute("PRAGMA journal_mode=WAL")


def _copies_made(connection: sqlite3.Connection) -> int:
    originals, twins = connection.execute(
        "SELECT sum(source IS NOT ?), sum(source IS ?) FROM customers", (COPY, COPY)
    ).fetchone()
    return 1 + (twins or 0) // max(originals or 0, 1)


def replicate(store: Store, copies: int, *, seed: int = 42, keys: bool = True) -> None:
    """Grow the installation to ``copies`` times its generated customers (SQLite only); called
    again with a larger ``copies``, it adds the copies missing. ``keys=False``: the twins get no
    data-key rows (a restore's sample decrypt then picks an original, as in real data)."""
    path = sqlite_file(str(store.engine.url))
    assert path is not None, "replicate grows SQLite installations only"
    paused = store.checkpointer
    if paused is not None:  # the bulk connection changes the journal mode: nothing else open
        paused.stop()
    store.engine.dispose()
    with _bulk(path, seed) as connection:
        twins = _grow(connection, copies, keys=keys)
    if twins:
        _copy_keys(store, twins)
    if paused is not None:
        store.checkpointer = WalCheckpointer(store.engine)
        store.checkpointer.start()


def _grow(connection: sqlite3.Connection, copies: int, *, keys: bool) -> list[tuple[str, str]]:
    """Add the copies missing up to ``copies``: the (original, twin) ids to copy keys for."""
    first = _copies_made(connection)
    if first >= copies:
        return []
    indexes = _drop_indexes(connection)
    connection.execute("BEGIN")
    connection.execute("CREATE TEMP TABLE numbers (k INTEGER PRIMARY KEY)")
    connection.executemany("INSERT INTO numbers VALUES (?)", [(k,) for k in range(first, copies)])
    connection.execute(
        "CREATE TEMP TABLE idmap (old TEXT NOT NULL, new TEXT NOT NULL, k INTEGER NOT NULL)"
    )
    connection.execute(
        f"INSERT INTO temp.idmap SELECT c.id, {_TWIN_ID}, n.k "
        "FROM customers c CROSS JOIN temp.numbers n WHERE c.source IS NOT ?",
        (COPY,),
    )
    connection.execute("CREATE INDEX temp.idmap_old ON idmap (old)")
    for name, (join, overrides) in _PLANS.items():
        connection.execute(_clone_sql(DATA_METADATA.tables[name], join, overrides))
    twins = connection.execute("SELECT old, new FROM temp.idmap").fetchall() if keys else []
    connection.execute("COMMIT")
    connection.execute("DROP TABLE temp.idmap")
    connection.execute("DROP TABLE temp.numbers")
    for statement in indexes:
        connection.execute(statement)
    return twins


def _drop_indexes(connection: sqlite3.Connection) -> list[str]:
    """Drop the cloned tables' secondary indexes (not those of UNIQUE constraints): the
    statements that create them again."""
    names = tuple(_PLANS)
    rows = connection.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({', '.join('?' for _ in names)})",
        names,
    ).fetchall()
    for name, _ in rows:
        connection.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _copy_keys(store: Store, twins: list[tuple[str, str]]) -> None:
    path = sqlite_file(str(store.keystore.engine.url))
    assert path is not None
    store.keystore.engine.dispose()
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        originals = {
            row[0]: row[1:]
            for row in connection.execute(
                "SELECT customer_id, key_version, kek_version, wrapped_key, created_at "
                "FROM data_keys"
            )
        }
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO data_keys (key_id, customer_id, key_version, kek_version, "
            "wrapped_key, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                (hashlib.blake2b(new.encode(), digest_size=16).hexdigest(), new, *originals[old])
                for old, new in twins
                if old in originals
            ),
        )
        connection.execute("COMMIT")

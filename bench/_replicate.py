"""Growing a generated installation by cloning its customers (bench set-up only; SQLite, and
PostgreSQL for ``bench_backup``).

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
sorted build instead of millions of random B-tree inserts): 1M customers in minutes. On
PostgreSQL, the same statements with SHA-256 for the keyed hash and an MD5 for twins' ids.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import Table, text

from clientvault.migrations.schema import DATA_METADATA
from clientvault.store.context import Store
from clientvault.store.file_modes import sqlite_file
from clientvault.store.wal_checkpoints import WalCheckpointer

COPY = "bench-copy"
#: A twin's blind index: a keyed hash of the original's and the copy number, as long.
_TWIN = {
    "sqlite": "CASE WHEN {c} IS NULL THEN NULL ELSE twin({c}, m.k) END",
    "postgresql": "CASE WHEN {c} IS NULL THEN NULL "
    "ELSE substring(sha256(:seed || {c} || int4send(m.k)) FROM 1 FOR length({c})) END",
}


def _plans(dialect: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Per table: the join column and the expressions replacing some columns."""
    twin = _TWIN[dialect]
    return {
        "customers": (
            "id",
            {
                "id": "m.new",
                "source": f"'{COPY}'",
                "merged_into_id": "NULL",
                "email_index": twin.format(c="t.email_index"),
                "phone_index": twin.format(c="t.phone_index"),
            },
        ),
        "customer_identities": (
            "customer_id",
            {"customer_id": "m.new", "value_index": twin.format(c="t.value_index")},
        ),
        "events": (
            "customer_id",
            {
                "customer_id": "m.new",
                "message_id": "t.message_id || '~' || m.k",
                "anonymous_index": twin.format(c="t.anonymous_index"),
                "user_index": twin.format(c="t.user_index"),
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
        f"FROM idmap m JOIN {table.name} t ON t.{join} = m.old"
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
    if store.engine.dialect.name == "postgresql":
        twins = _grow_postgresql(store, copies, seed=seed, keys=keys)
        if twins:
            _copy_keys(store, twins)
        return
    path = sqlite_file(str(store.engine.url))
    assert path is not None
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
    for name, (join, overrides) in _plans("sqlite").items():
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
    names = tuple(_plans("sqlite"))
    rows = connection.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({', '.join('?' for _ in names)})",
        names,
    ).fetchall()
    for name, _ in rows:
        connection.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _grow_postgresql(store: Store, copies: int, *, seed: int, keys: bool) -> list[tuple[str, str]]:
    """``_grow`` on PostgreSQL: a twin's id is the MD5 of the original's and the copy number;
    the secondary indexes are dropped and built again the same way, then ``ANALYZE``."""
    plans = _plans("postgresql")
    with store.engine.begin() as connection:
        originals, twins = connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE source IS DISTINCT FROM :copy), "
                "count(*) FILTER (WHERE source = :copy) FROM customers"
            ),
            {"copy": COPY},
        ).one()
        first = 1 + twins // max(originals, 1)
        if first >= copies:
            return []
        indexes = connection.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = ANY(:names) AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint)"
            ),
            {"names": list(plans)},
        ).all()
        for name, _ in indexes:
            connection.execute(text(f'DROP INDEX "{name}"'))
        connection.execute(
            text(
                "CREATE TEMP TABLE idmap ON COMMIT DROP AS SELECT c.id AS old, "
                "md5(c.id::text || '~' || n.k)::uuid AS new, n.k FROM customers c "
                "CROSS JOIN generate_series(CAST(:first AS integer), CAST(:last AS integer)) "
                "AS n(k) "
                "WHERE c.source IS DISTINCT FROM :copy"
            ),
            {"first": first, "last": copies - 1, "copy": COPY},
        )
        connection.execute(text("CREATE INDEX ON idmap (old)"))
        connection.execute(text("ANALYZE idmap"))
        for name, (join, overrides) in plans.items():
            statement = text(_clone_sql(DATA_METADATA.tables[name], join, overrides))
            parameters = {"seed": seed.to_bytes(8, "big")} if ":seed" in statement.text else {}
            connection.execute(statement, parameters)
        made = (
            [
                (str(old), str(new))
                for old, new in connection.execute(text("SELECT old, new FROM idmap"))
            ]
            if keys
            else []
        )
        for _, definition in indexes:
            connection.execute(text(definition))
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    return made


def _copy_keys(store: Store, twins: list[tuple[str, str]]) -> None:
    """Give each twin a copy of its original's wrapped data key (a row of its own)."""
    columns = "customer_id, key_version, kek_version, wrapped_key, created_at"
    with store.keystore.engine.begin() as connection:
        originals = {
            str(row[0]): row[1:]
            for row in connection.execute(text(f"SELECT {columns} FROM data_keys"))
        }
        rows = [
            {
                "key_id": hashlib.blake2b(new.encode(), digest_size=16).hexdigest(),
                "customer_id": new,
                **dict(
                    zip(
                        ("key_version", "kek_version", "wrapped_key", "created_at"),
                        originals[old],
                        strict=True,
                    )
                ),
            }
            for old, new in twins
            if old in originals
        ]
        for start in range(0, len(rows), 10_000):
            connection.execute(
                text(
                    f"INSERT INTO data_keys (key_id, {columns}) VALUES (:key_id, :customer_id, "
                    ":key_version, :kek_version, :wrapped_key, :created_at)"
                ),
                rows[start : start + 10_000],
            )

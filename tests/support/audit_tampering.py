"""Tampering with the audit log the way an insider with database access would, never through
the application.

* both databases refuse UPDATE and DELETE on the audit log outright (append-only triggers), so:
* on SQLite, on a *copy* of the database file (taken with SQLite's backup API, which copies
  the WAL's committed pages too), its triggers dropped, edited with the ``sqlite3`` module;
* on PostgreSQL, by the table's owner switching the trigger off inside a transaction that is
  rolled back afterwards: the chain must still expose what a DBA could do.

The tamperer never has the key file, so never the audit key; the copy is verified with it, as
the installation would verify it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.orm import Session

from clientvault.security import audit
from clientvault.store.context import AUDIT_KEY_INFO, Store


class Tamperer:
    """Runs SQL against a database the application is not using, then verifies it."""

    dialect: str
    #: What the installation verifies the copy with (its key file's audit key).
    info: dict[str, Any]

    def execute(self, sql: str, **params: Any) -> None:
        raise NotImplementedError

    def session(self) -> Session:
        raise NotImplementedError

    def verify(
        self, expected_head: str | None = None, checkpoints: dict[int, str] | None = None
    ) -> audit.Verification:
        with self.session() as session:
            return audit.verify(session, expected_head=expected_head, checkpoints=checkpoints)


class SqliteCopy(Tamperer):
    """A copy of the SQLite database file, edited with the sqlite3 module."""

    dialect = "sqlite"

    def __init__(self, path: Path, info: dict[str, Any]) -> None:
        self.path = path
        self.engine = create_engine(f"sqlite:///{path}")
        self.info = info

    def execute(self, sql: str, **params: Any) -> None:
        with closing(sqlite3.connect(self.path)) as connection:
            connection.execute(sql, params)
            connection.commit()

    def session(self) -> Session:
        return Session(self.engine, info=self.info)


class PostgresOwner(Tamperer):
    """The table owner on PostgreSQL with the trigger disabled, in one open transaction."""

    dialect = "postgresql"

    def __init__(self, connection: Connection, info: dict[str, Any]) -> None:
        self.connection = connection
        self.info = info

    def execute(self, sql: str, **params: Any) -> None:
        self.connection.execute(text(sql), params)

    def session(self) -> Session:
        return Session(
            bind=self.connection, join_transaction_mode="create_savepoint", info=self.info
        )


@contextmanager
def tampering(db: Store, tmp_path: Path) -> Iterator[Tamperer]:
    """A ``Tamperer`` on the installation's database: a copy of the SQLite file, or
    PostgreSQL's owner in a transaction rolled back at the end."""
    info = {AUDIT_KEY_INFO: db.keystore.material.audit_key()}
    if db.engine.dialect.name == "sqlite":
        source = db.engine.url.database
        assert source
        copy = tmp_path / "copy-of-clientvault.db"
        with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(copy)) as target:
            live.backup(target)
            # Whoever holds the file can drop the append-only triggers: the chain remains.
            for operation in ("update", "delete"):
                target.execute(f"DROP TRIGGER audit_log_refuse_{operation}")
        tamperer = SqliteCopy(copy, info)
        try:
            yield tamperer
        finally:
            tamperer.engine.dispose()
        return
    with db.engine.connect() as connection:
        transaction = connection.begin()
        # Locks the table until the rollback: the application must be done writing by now.
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        try:
            yield PostgresOwner(connection, info)
        finally:
            transaction.rollback()  # the trigger, and the real log, are as they were

"""Engines and session factories for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from clientvault.errors import ConfigurationError
from clientvault.store.file_modes import create_private, sqlite_file


def json_serializer(value: Any) -> str:
    """JSON for JSON columns: orjson (several times faster than the standard library on the
    ingestion path), falling back to ``json`` for what orjson refuses (integers over 64 bits)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value)


#: Execution option marking a connection whose transactions only read.
READ_ONLY_OPTION = "clientvault_read_only"
#: A bulk writer's SQLite settings (``bulk_writing``): a page cache (negative: in KiB; SQLite's
#: default is 2 MiB) that holds a transaction's dirty pages and the indexes that random values
#: (blind indexes, message ids, event times, device ids) spread every transaction over.
BULK_WRITE_PRAGMAS = {"cache_size": -256 * 1024}


def make_engine(url: str, *, synchronous: str = "FULL", echo: bool = False) -> Engine:
    """Create an engine configured for clientvault's durability and integrity needs.

    On SQLite: the file created 0600 if missing (``store.file_modes``), WAL (readers never
    block the single writer), foreign keys enforced,
    ``synchronous`` as chosen (FULL: a committed transaction survives power loss, which
    event acknowledgement relies on), ``secure_delete`` so erased rows do not linger in free
    pages, and a busy timeout instead of immediate "database is locked" errors.

    ``hide_parameters``: bound values never appear in SQL logs (``echo``) nor in the text of
    database errors, which get logged; they can be personal data or secrets (the e-mail
    typed at sign-in, a session's CSRF token).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = sqlite_file(url)
        if database is not None:
            if not database.parent.exists():
                raise ConfigurationError(
                    f"database directory {database.parent} does not exist; run `clientvault init`"
                )
            create_private(database)
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            json_serializer=json_serializer,
            connect_args={"timeout": 30},
        )
        _configure_sqlite(engine, synchronous=synchronous)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # Our statements are never prepared on the server (psycopg prepares one run 5 times
        # by default), so each is planned for its own values: a generic plan cached while a
        # table was empty (or before statistics) kept scanning it whole, and ingestion's
        # look-ups grew with the table. This used to be ``plan_cache_mode=force_custom_plan``
        # for the whole session, which also re-planned every foreign-key check (the server's
        # own cached ``SELECT ... FOR KEY SHARE``, run for each identity link and event row):
        # ~22 % of the server's time during an import (perf), and 20 % of the import's wall
        # time on the last 100k rows of 1M (``bench/bench_import.py``). Those checks look a
        # row up by primary key: their generic plan, cached against a 5-row parent table,
        # still served 2,000 checks against 200k rows at index speed (checked in psql; a
        # table never analysed is costed as 10 pages at least), and ``ANALYZE`` replans.
        return create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            json_serializer=json_serializer,
            pool_pre_ping=True,
            connect_args={"prepare_threshold": None},
        )
    raise ConfigurationError(f"unsupported database backend {parsed.get_backend_name()!r}")


def _configure_sqlite(engine: Engine, *, synchronous: str) -> None:
    if synchronous not in {"FULL", "NORMAL"}:
        raise ConfigurationError(f"unsupported SQLite synchronous mode {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is disabled so that SQLAlchemy's BEGIN is the
        # only one (the documented recipe); the pragmas must run outside a transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writing transaction takes the write lock at BEGIN (IMMEDIATE), so two writers queue
        # on the busy timeout instead of one failing later with SQLITE_BUSY on lock upgrade.
        # A read-only one (see ``read_only``) begins deferred and, under WAL, never waits.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def bulk_writing(connection: Connection) -> Iterator[Connection]:
    """The connection, set up for a long run of large write transactions (an import, the demo's
    generator) and restored on exit: on SQLite, ``BULK_WRITE_PRAGMAS``.

    With SQLite's default 2 MiB page cache, a transaction that adds rows at random places of
    indexes of hundreds of MB reads each page back from the file every time it is touched (a
    look-up, then the insert) and again in the next transaction: against 900k profiles, an
    import's writer read 130 KB from the file a row and spent a third of its time in the
    kernel. With the pages cached across transactions they are read once. The memory is the
    connection's own, and is given back when the size is restored. PostgreSQL's cache is the
    server's (``shared_buffers``): nothing to set."""
    if connection.dialect.name != "sqlite":
        yield connection
        return
    driver = connection.connection.driver_connection
    if driver is None:  # pragma: no cover - an open pooled connection has its driver's
        raise RuntimeError("no driver connection")
    previous = {name: driver.execute(f"PRAGMA {name}").fetchone()[0] for name in BULK_WRITE_PRAGMAS}
    for name, value in BULK_WRITE_PRAGMAS.items():
        driver.execute(f"PRAGMA {name} = {int(value)}")
    try:
        yield connection
    finally:
        for name, value in previous.items():
            driver.execute(f"PRAGMA {name} = {int(value)}")


def make_session_factory(
    engine: Engine, *, read_only: bool = False, info: dict[str, Any] | None = None
) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit.

    ``read_only`` sessions are for work that never writes: on SQLite they do not take the
    write lock, so readers (console pages, reports) never queue behind ingestion. ``info``
    is copied into every session's ``Session.info`` (the audit chain's key).
    """
    if read_only:
        engine = engine.execution_options(**{READ_ONLY_OPTION: True})
    return sessionmaker(engine, expire_on_commit=False, info=info)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error, always closes."""
    with factory() as session, session.begin():
        yield session


def ping(session: Session) -> None:
    """One trivial round trip to the database (``SELECT 1``): raises when it cannot be
    reached (the readiness probe, ``/healthz``)."""
    session.execute(text("SELECT 1"))

"""Throw-away PostgreSQL databases on the test server.

The server is the one ``CLIENTVAULT_TEST_PG_URL`` names; under ``make test``
(``CLIENTVAULT_TEST_FIND_SERVICES=1``) without it, the local PostgreSQL at its usual address
(``LOCAL_PG_URL``) when one answers there. Plain ``pytest`` runs without the variable stay on
SQLite, so a quick local run of a few tests does not double its time.
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

#: Where ``make test`` looks for PostgreSQL when no URL is given (Debian's defaults).
LOCAL_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: How ``make test`` asks the test support to find PostgreSQL and chromium by itself.
FIND_SERVICES = os.environ.get("CLIENTVAULT_TEST_FIND_SERVICES", "") not in ("", "0")
#: Said by every skipped PostgreSQL test, and by the summary at the end of the run.
HOW_TO_GET_PG = (
    "set CLIENTVAULT_TEST_PG_URL (e.g. postgresql://postgres@127.0.0.1:5432/test), "
    "or run `make test` with PostgreSQL listening on 127.0.0.1:5432"
)

#: The reason every PostgreSQL test skipped for want of a server gives (the summary counts it).
PG_SKIP_REASON = f"no PostgreSQL server for the tests: {HOW_TO_GET_PG}"


def answers(url: str, timeout_s: int = 2) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``url`` within ``timeout_s``."""
    engine = create_engine(
        make_url(url).set(drivername="postgresql+psycopg"),
        connect_args={"connect_timeout": timeout_s},
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError:
        return False
    finally:
        engine.dispose()
    return True


def find_pg_url() -> str | None:
    """The test server's URL: the variable's, or (``make test``) the local one if it answers."""
    given = os.environ.get("CLIENTVAULT_TEST_PG_URL")
    if given:
        return given
    if FIND_SERVICES and answers(LOCAL_PG_URL):
        return LOCAL_PG_URL
    return None


PG_URL = find_pg_url()


def admin_engine():  # type: ignore[no-untyped-def]
    """An AUTOCOMMIT engine on the test server, for CREATE and DROP DATABASE."""
    assert PG_URL is not None
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server, password included."""
    assert PG_URL is not None
    return (
        make_url(PG_URL)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )


def create_pg_database(name: str) -> str:
    """Create database ``name`` on the test server and return its URL."""
    engine = admin_engine()
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return database_url(name)


def drop_pg_database(name: str) -> None:
    """Drop database ``name`` on the test server, if it exists, whoever is connected."""
    engine = admin_engine()
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()

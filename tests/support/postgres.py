"""Throw-away PostgreSQL databases on the server named by ``CLIENTVAULT_TEST_PG_URL``."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("CLIENTVAULT_TEST_PG_URL")


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

"""Cursors of log consumers (the event log, the audit log): one row per consumer, locked for
the duration of a batch so that several workers never handle the same batch at once."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

CursorT = TypeVar("CursorT")


def locked_cursor(session: Session, model: type[CursorT], name: str) -> CursorT | None:
    """The cursor row ``name`` of ``model`` (created at position 0 if new), locked for this
    transaction; ``None`` on PostgreSQL when another worker holds it (``SKIP LOCKED``).

    On SQLite the writer's ``BEGIN IMMEDIATE`` already serialises consumers.
    """
    columns: Any = model
    dialect = session.get_bind().dialect.name
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        dialect_insert(columns)
        .values(name=name, position=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    query = select(columns).where(columns.name == name)
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return cast(CursorT | None, session.scalar(query))

"""Driver-level statements for the ingestion hot path: look-ups by a list of values, bulk
inserts of ready rows.

Written by hand because, for the few statements every tracking batch runs, SQLAlchemy Core's
per-call work (an expanding ``IN`` compiled for each call, every value passed through its bind
processor, every row through its result processor) cost more than the database: a 100-value
look-up took ~360 µs through Core on SQLite against ~65 µs through the driver (measured for
issue 3). Everything else keeps using Core and the ORM. The SQL is still parameterised: only
placeholders are generated, values always travel as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Dialect, LargeBinary, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

#: Values per statement: under SQLite's historical limit of 999 parameters.
CHUNK = 900
#: Parameters per multi-row INSERT: under the limit of SQLite 3.32+ (32,766).
ROWS_PARAMETERS = 8_000


def placeholder(dialect: Dialect) -> str:
    """The driver's positional placeholder (``?`` for sqlite3, ``%s`` for psycopg)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def rows_in(
    connection: Connection,
    sql: str,
    values: Sequence[Any],
    *,
    leading: tuple[Any, ...] = (),
) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` for every chunk of ``values``.

    ``sql`` holds ``{p}`` for each single placeholder (filled from ``leading``, in order) and
    ``{in}`` after the column compared with the values, e.g.
    ``… WHERE kind = {p} AND value {in}``: ``IN (?, ?, …)`` on SQLite, ``= ANY(%b)`` on
    PostgreSQL — one array parameter, sent in binary (psycopg re-parses a query of over 50
    parameters on every call, and dumps a ``bytea`` array as text slowly).
    """
    mark = placeholder(connection.dialect)
    array = connection.dialect.name == "postgresql"
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        if array:
            statement = sql.format(p=mark, **{"in": "= ANY(%b)"})
            parameters: tuple[Any, ...] = (*leading, list(chunk))
        else:
            statement = sql.format(p=mark, **{"in": f"IN ({', '.join([mark] * len(chunk))})"})
            parameters = (*leading, *chunk)
        found.extend(connection.exec_driver_sql(statement, parameters).fetchall())
    return found


def reader(connection: Connection, type_: TypeEngine[Any]) -> Callable[[Any], Any]:
    """What turns a driver value of this column type into its Python value (e.g. SQLite's
    32-hex-digit text into a ``uuid.UUID``), as SQLAlchemy would have."""
    dialect = connection.dialect
    process = type_.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else _same


def writers(
    dialect: Dialect, table: Table, columns: Sequence[str], *, ready: Iterable[str] = ()
) -> dict[int, Callable[[Any], Any]]:
    """By position in ``columns``, what turns a Python value into the driver's value
    (SQLAlchemy's own bind processors), for the columns that need one. Columns named in
    ``ready`` (e.g. JSON already serialised to text) and binary ones (both drivers take
    ``bytes`` as they are) are passed as given."""
    done = set(ready)
    found: dict[int, Callable[[Any], Any]] = {}
    for position, name in enumerate(columns):
        type_ = table.c[name].type
        if name in done or isinstance(type_, LargeBinary):
            continue
        process = type_.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            found[position] = process
    return found


def insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows of driver values (see ``writers``) into ``columns`` of ``table``.

    The fastest plain way on each backend: multi-row INSERTs on SQLite, ``COPY`` on
    PostgreSQL. No conflict handling: the caller has ruled duplicates out under its lock.
    """
    if not rows:
        return
    # Names come from the models, never from input; quoted all the same.
    quote = connection.dialect.identifier_preparer.quote
    table_name, names = quote(table.name), ", ".join(quote(c) for c in columns)
    if connection.dialect.name == "postgresql":
        statement = f"COPY {table_name} ({names}) FROM STDIN"
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        dbapi_error = connection.dialect.loaded_dbapi.Error
        try:
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi_error as exc:  # raised as SQLAlchemy raises driver errors elsewhere
            raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc
        finally:
            cursor.close()
        return
    # One multi-row INSERT per chunk rather than executemany: sqlite3 lets go of the GIL
    # around every statement it steps, and under a busy server each of those hand-backs waits
    # behind other threads; a 100-row executemany spent most of its time there.
    mark = placeholder(connection.dialect)
    row_marks = "(" + ", ".join([mark] * len(columns)) + ")"
    per_statement = max(1, ROWS_PARAMETERS // len(columns))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ", ".join([row_marks] * len(chunk))
        statement = f"INSERT INTO {table_name} ({names}) VALUES {values}"  # noqa: S608
        connection.exec_driver_sql(statement, tuple(chain.from_iterable(chunk)))


def _same(value: Any) -> Any:
    return value

"""Driver-level statements for the write-heavy paths: look-ups by a list of values, rows
encoded into driver values, bulk inserts of such rows.

Written by hand because, for the few statements every tracking batch runs and for the demo's
millions of rows, SQLAlchemy's per-call work cost more than the database: a 100-value look-up
took ~360 µs through Core on SQLite against ~65 µs through the driver (issue 3), and about
two thirds of the time per demo row went to turning values into driver values and building
parameters while the single SQLite writer waited. ``TableCodec`` applies the very same
conversions (the columns' own bind processors, for the target dialect) where the rows are
made — a request's thread, or another process (``DialectRef`` carries the dialect there) —
so the writer only hands finished tuples to the driver. Everything else keeps using Core and
the ORM. The SQL is still parameterised: only placeholders are generated, values always
travel as parameters.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from psycopg.abc import Buffer
from psycopg.types.json import JsonbBinaryDumper
from sqlalchemy import Connection, Dialect, Engine, LargeBinary, Table, insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from clientvault.store.engine import json_serializer

#: Values per statement: under SQLite's historical limit of 999 parameters.
CHUNK = 900


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


def first_row(engine: Engine, sql: str, parameters: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The first row of a short read (``{p}`` for each placeholder), on a pooled driver
    connection and outside any transaction of SQLAlchemy's, for checks made on every request
    (a tracking call's write key): through a session — its transaction, its connection
    wrapper, BEGIN and the rollback — the same read cost ~150 µs on SQLite, this ~9 µs.

    The read ends with the call: SQLite runs it alone (no BEGIN), and the pool ends
    PostgreSQL's implicit transaction as it takes the connection back."""
    statement = sql.format(p=placeholder(engine.dialect))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            with _sqlalchemy_errors(engine.dialect, statement):
                cursor.execute(statement, parameters)
                row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        raw.close()
    return None if row is None else tuple(row)


@contextmanager
def _sqlalchemy_errors(dialect: Dialect, statement: str) -> Iterator[None]:
    """Driver errors raised inside, raised as SQLAlchemy raises them elsewhere (callers catch
    ``IntegrityError`` and the like whichever path ran the statement)."""
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc


def reader(connection: Connection, type_: TypeEngine[Any]) -> Callable[[Any], Any]:
    """What turns a driver value of this column type into its Python value (e.g. SQLite's
    32-hex-digit text into a ``uuid.UUID``), as SQLAlchemy would have."""
    dialect = connection.dialect
    process = type_.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else _same


#: A positional parameter style per backend (tuples are cheaper than dicts to bind and ship).
_POSITIONAL = {"sqlite": "qmark", "postgresql": "format"}


@dataclass(frozen=True)
class DialectRef:
    """A picklable reference to an engine's dialect (backend and driver, no credentials)."""

    name: str
    driver: str

    @classmethod
    def of(cls, engine: Engine) -> DialectRef:
        """The dialect of ``engine``."""
        return cls(engine.dialect.name, engine.dialect.driver)

    def load(self) -> Dialect:
        """A dialect like the engine's, with its driver module, using positional parameters.

        Built the way ``create_engine`` builds one (bind processors such as the binary
        wrapper depend on the driver module), without connecting anywhere.
        """
        if self.name not in _POSITIONAL:
            raise ValueError(f"unsupported backend {self.name!r}")
        dialect_class: Any = make_url(f"{self.name}+{self.driver}://").get_dialect()
        dialect: Dialect = dialect_class(
            dbapi=dialect_class.import_dbapi(),
            paramstyle=_POSITIONAL[self.name],
            json_serializer=json_serializer,
        )
        return dialect


class TableCodec:
    """The INSERT statement of some of a table's columns, and the conversion of one row of
    Python values (in ``columns`` order) into the driver values that statement takes.

    Columns named in ``deferred`` are left as given by ``encode``: they hold placeholders
    that the writer replaces (and converts with ``convert``) once the real value is known.

    Binary values stay ``bytes``: both drivers take them as they are, and the DBAPI's
    ``Binary`` wrapper (a ``memoryview`` for sqlite3) only cost a call per value and made
    rows that pickle refuses (the ingest writer receives its rows pickled).
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        dialect: Dialect,
        *,
        deferred: Sequence[str] = (),
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        unknown = set(deferred) - set(self.columns)
        if unknown:
            raise ValueError(f"deferred columns not in the row: {sorted(unknown)}")
        compiled = insert(table).compile(dialect=dialect, column_keys=list(self.columns))
        if compiled.positiontup is None or tuple(compiled.positiontup) != self.columns:
            raise ValueError(f"columns of {table.name} must be listed in table order")
        self.sql = compiled.string
        self._processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            None
            if isinstance(table.c[name].type, LargeBinary)
            else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.columns
        )
        #: (position, conversion) of the columns ``encode`` converts.
        self._encoders = tuple(
            (position, process)
            for position, (name, process) in enumerate(
                zip(self.columns, self._processors, strict=True)
            )
            if process is not None and name not in deferred
        )

    def slot(self, column: str) -> int:
        """The position of ``column`` in an encoded row."""
        return self.columns.index(column)

    def encode(self, values: Sequence[Any]) -> list[Any]:
        """One row's driver values (a list, so a writer can still fill placeholders in)."""
        if len(values) != len(self.columns):
            raise ValueError(f"{len(values)} values for {len(self.columns)} columns")
        row = list(values)
        for position, process in self._encoders:
            value = row[position]
            if value is not None:
                row[position] = process(value)
        return row

    def processor(self, column: str) -> Callable[[Any], Any] | None:
        """The conversion of ``column``'s values, or ``None`` if they go to the driver as is."""
        return self._processors[self.columns.index(column)]

    def convert(self, column: str, value: Any) -> Any:
        """One value of ``column`` as the driver takes it."""
        process = self._processors[self.columns.index(column)]
        return value if process is None or value is None else process(value)


def insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Insert rows of driver values (see ``TableCodec``) into ``columns`` of ``table``.

    The fastest plain way on each backend: one ``executemany`` on SQLite, a binary ``COPY``
    on PostgreSQL (``_copy_binary``). No conflict handling: the caller has ruled duplicates
    out under its lock, and on an error rolls its transaction back (rows before the refused
    one may be in it). ``rows`` may be made as they are taken: on PostgreSQL the server
    stores the rows sent while the next ones are made (``COPY`` streams).
    """
    taken = iter(rows)
    first = next(taken, None)
    if first is None:
        return
    rows = itertools.chain((first,), taken)
    # Names come from the models, never from input; quoted all the same.
    quote = connection.dialect.identifier_preparer.quote
    table_name, names = quote(table.name), ", ".join(quote(c) for c in columns)
    if connection.dialect.name == "postgresql":
        statement = f"COPY {table_name} ({names}) FROM STDIN (FORMAT BINARY)"
        types = _server_types(connection.dialect, table, tuple(columns))
        _copy_binary(connection, statement, types, rows)
        return
    listed = list(rows)  # the driver's executemany takes a list
    # One single-row INSERT run by the driver's executemany, not multi-row INSERTs. A
    # multi-row INSERT that may abort half-way (a unique or foreign key) inside a
    # transaction that has already written needs a statement journal: SQLite saves the
    # original of every page the statement changes, and past 64 KiB spills it to a temp file
    # it creates and deletes per transaction — about two writes per page. Measured on the
    # ingest writer (groups of 200 events, 1,000 customers): ~8 µs less CPU per event, most
    # of it system time. A single-row INSERT needs no statement journal at all. (This
    # releases the GIL around every row, which costs in a busy multi-threaded process; the
    # server stores tracking calls from its own writer process, ``ingest.writer``.)
    marks = ", ".join([placeholder(connection.dialect)] * len(columns))
    statement = f"INSERT INTO {table_name} ({names}) VALUES ({marks})"  # noqa: S608
    connection.exec_driver_sql(statement, listed)


def _copy_binary(
    connection: Connection, statement: str, types: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """``COPY … FROM STDIN`` in PostgreSQL's binary format: values travel as the server stores
    them (a UUID as 16 bytes, a time as a 64-bit integer, bytes as they are), so neither side
    formats or parses text — in the text format a sealed value went as hex, escaped, and was
    decoded again by the server, for ~15 % of the import writer's CPU."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.adapters.register_dumper(None, _SerialisedJsonb)
    try:
        with _sqlalchemy_errors(connection.dialect, statement), cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


class _SerialisedJsonb(JsonbBinaryDumper):
    """``jsonb`` in a binary ``COPY``: a ``str`` is JSON serialised already (the columns a
    ``TableCodec`` defers, as SQLite takes them too), anything else is serialised here."""

    def dump(self, obj: Any) -> Buffer | None:
        if isinstance(obj, str):
            return b"\x01" + obj.encode("utf-8")  # jsonb's binary form: version 1, then text
        return super().dump(obj)


@functools.lru_cache(maxsize=32)
def _server_types(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The PostgreSQL type names of ``columns`` (a binary ``COPY`` needs them, since the
    server applies no cast): the columns' types as PostgreSQL's DDL spells them, without
    length or precision (``VARCHAR(32)`` is ``varchar``)."""
    return tuple(
        table.c[name].type.compile(dialect=dialect).split("(")[0].strip().lower()
        for name in columns
    )


def _same(value: Any) -> Any:
    return value

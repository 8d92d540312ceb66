"""Rows ready for the database driver, prepared away from the writing process.

Demo data is millions of rows. Through ``session.execute(insert(Model), rows)`` about two thirds
of the time per row goes to SQLAlchemy turning values into driver values (JSON text,
timestamps) and building parameters, while the single SQLite writer waits. A ``TableCodec``
applies the very same conversions (the columns' own bind processors, for the target dialect)
where the rows are made, possibly in another process, so the writer only hands finished
tuples to the driver's ``executemany``. One liberty: JSON is serialised with orjson
(``json_text``): the documents the engines' ``json.dumps`` writes, compact and unescaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Dialect, Engine, Table, insert
from sqlalchemy.engine import make_url

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
            json_serializer=json_text,
        )
        return dialect


def json_text(value: Any) -> str:
    """A JSON column's text, as ``json.dumps`` (the engines' serializer) would write the same
    document but compact and without ASCII escapes, in a quarter of the time: the demo encodes
    a couple of JSON documents per event.

    On SQLite the JSON columns' bind processor applies it in the planning process; psycopg
    serialises JSON itself, in the writing process, with the engine's serializer.
    """
    return orjson.dumps(value).decode()


def table_of(model: type[Any]) -> Table:
    """The table a declarative model is mapped to."""
    table = model.__table__
    if not isinstance(table, Table):  # pragma: no cover - declarative models have tables
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


class TableCodec:
    """The INSERT statement of some of a table's columns, and the conversion of one row of
    Python values (in ``columns`` order) into the driver values that statement takes.

    Columns named in ``deferred`` are left as given by ``encode``: they hold placeholders
    that the writer replaces (and converts with ``convert``) once the real value is known.
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
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
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

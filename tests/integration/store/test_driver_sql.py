"""Driver-level look-ups and inserts (the ingestion hot path) on the real databases."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from clientvault.ingest.models import Event
from clientvault.ingest.tracking import EVENT_COLUMNS
from clientvault.store.base import new_id, table_of, utcnow
from clientvault.store.context import Store
from clientvault.store.driver_sql import (
    CHUNK,
    DialectRef,
    TableCodec,
    first_row,
    insert_rows,
    reader,
    rows_in,
)
from clientvault.store.engine import json_serializer

_COLUMNS = (
    "message_id",
    "type",
    "customer_id",
    "occurred_at",
    "received_at",
    "properties",
    "context",
)


def _codec(db: Store) -> TableCodec:
    dialect = DialectRef.of(db.engine).load()
    return TableCodec(table_of(Event), _COLUMNS, dialect, deferred=("properties", "context"))


def _rows(db: Store, count: int, *, tag: str) -> list[tuple[object, ...]]:
    codec = _codec(db)
    now = utcnow()
    return [
        tuple(codec.encode([f"{tag}-{n}", "track", None, now, now, f'{{"n": {n}}}', "{}"]))
        for n in range(count)
    ]


def test_inserts_and_look_ups_span_several_statements(db: Store) -> None:
    # More values than one look-up sends.
    with db.sessions.begin() as session:
        insert_rows(session.connection(), table_of(Event), _COLUMNS, _rows(db, 1_000, tag="m"))
    wanted = [f"m-{n}" for n in range(0, 1_000, 2)] + [f"x-{n}" for n in range(CHUNK)]
    with db.sessions() as session:
        found = rows_in(
            session.connection(), "SELECT message_id FROM events WHERE message_id {in}", wanted
        )
        stored = session.execute(select(Event.properties).where(Event.message_id == "m-998"))
        assert stored.scalar_one() == {"n": 998}
    assert sorted(message_id for (message_id,) in found) == sorted(wanted[:500])


def test_sqlite_inserts_rows_one_statement_per_row_so_no_statement_journal(db: Store) -> None:
    # A multi-row INSERT after other writes in the transaction makes SQLite journal every
    # page it changes (spilled to a temp file past 64 KiB); a single-row one never does.
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL inserts with COPY")
    seen: list[tuple[str, bool, int]] = []

    def record(
        _conn: object,
        _cursor: object,
        statement: str,
        params: object,
        _ctx: object,
        executemany: bool,
    ) -> None:
        if statement.startswith("INSERT INTO events"):
            seen.append((statement, executemany, len(params)))  # type: ignore[arg-type]

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.sessions.begin() as session:
            insert_rows(session.connection(), table_of(Event), _COLUMNS, _rows(db, 1, tag="j"))
            insert_rows(session.connection(), table_of(Event), _COLUMNS, _rows(db, 500, tag="k"))
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    # One row's placeholders per statement; 500 rows are one executemany.
    assert [(executemany, count) for _, executemany, count in seen][1:] == [(True, 500)]
    assert all(statement.count("?") == len(_COLUMNS) for statement, _, _ in seen)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 501


def test_a_single_placeholder_comes_before_the_list(db: Store) -> None:
    with db.sessions.begin() as session:
        insert_rows(session.connection(), table_of(Event), _COLUMNS, _rows(db, 3, tag="p"))
    with db.sessions() as session:
        rows = rows_in(
            session.connection(),
            "SELECT message_id FROM events WHERE type = {p} AND message_id {in}",
            ["p-0", "p-2", "q-1"],
            leading=("track",),
        )
    assert sorted(rows) == [("p-0",), ("p-2",)]


def test_first_row_reads_the_first_row_or_none(db: Store) -> None:
    with db.sessions.begin() as session:
        insert_rows(session.connection(), table_of(Event), _COLUMNS, _rows(db, 2, tag="f"))
    sql = "SELECT message_id, type FROM events WHERE message_id = {p}"
    assert first_row(db.engine, sql, ("f-1",)) == ("f-1", "track")
    assert first_row(db.engine, sql, ("f-9",)) is None


def test_first_row_raises_sqlalchemys_error_for_a_driver_error(db: Store) -> None:
    with pytest.raises(DBAPIError):
        first_row(db.engine, "SELECT no_such_column FROM events WHERE id = {p}", (1,))


def test_a_refused_insert_raises_sqlalchemys_error_and_writes_nothing(db: Store) -> None:
    rows = _rows(db, 2, tag="d")
    with db.sessions.begin() as session:
        insert_rows(session.connection(), table_of(Event), _COLUMNS, rows[:1])
    with pytest.raises(IntegrityError), db.sessions.begin() as session:
        insert_rows(session.connection(), table_of(Event), _COLUMNS, rows[1:] + rows[:1])
    with db.sessions() as session:
        assert list(session.scalars(select(Event.message_id))) == ["d-0"]


def test_values_read_back_as_sqlalchemy_would(db: Store) -> None:
    customer = new_id()
    with db.sessions() as session:
        connection = session.connection()
        value = _codec(db).convert("customer_id", customer)
        (raw,) = connection.exec_driver_sql(
            "SELECT " + ("?" if db.engine.dialect.name == "sqlite" else "%s"), (value,)
        ).one()
        assert reader(connection, table_of(Event).c.customer_id.type)(raw) == customer


def test_binary_values_stay_bytes_travel_pickled_and_land_as_written(db: Store) -> None:
    # Ingestion's rows go to the writer process pickled: a DBAPI Binary (sqlite3's is a
    # memoryview) would not pickle; both drivers take bytes as they are.
    columns = ("message_id", "type", "anonymous_index", "occurred_at", "received_at")
    columns += ("properties", "context")
    codec = TableCodec(table_of(Event), columns, DialectRef.of(db.engine).load())
    index = bytes(range(32))
    now = utcnow()
    row = codec.encode(["b-1", "track", index, now, now, {}, {}])
    assert type(row[2]) is bytes
    assert codec.processor("anonymous_index") is None
    assert codec.convert("anonymous_index", index) is index
    with db.sessions.begin() as session:
        insert_rows(
            session.connection(), table_of(Event), columns, [tuple(pickle.loads(pickle.dumps(row)))]
        )
    with db.sessions() as session:
        stored = session.scalar(select(Event.anonymous_index).where(Event.message_id == "b-1"))
        assert stored == index
        assert (
            session.scalar(select(Event.message_id).where(Event.anonymous_index == index)) == "b-1"
        )


def test_every_kind_of_value_an_event_row_holds_reads_back_unchanged(db: Store) -> None:
    # PostgreSQL takes these rows as a binary COPY: each value is sent in the column type's
    # own binary form, so a value of the wrong kind, or a time or text mangled, would show.
    columns = EVENT_COLUMNS
    codec = TableCodec(
        table_of(Event), columns, DialectRef.of(db.engine).load(), deferred=("properties",)
    )
    occurred = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone(timedelta(hours=-5)))
    properties = {"note": 'quote " backslash \\ tab \t newline \n é 漢字 😀', "n": 1.5}
    values = [
        "m-binary",
        "track",
        "Commande passée",
        None,
        bytes(range(32)),
        b"\x00\xff" * 16,
        occurred,
        utcnow(),
        "bench",
        json_serializer(properties),
        {"ip": "203.0.113.0"},
    ]
    with db.sessions.begin() as session:
        insert_rows(session.connection(), table_of(Event), columns, [tuple(codec.encode(values))])
    with db.sessions() as session:
        stored = session.scalars(select(Event).where(Event.message_id == "m-binary")).one()
    assert stored.name == "Commande passée"
    assert stored.customer_id is None
    assert stored.anonymous_index == bytes(range(32))
    assert stored.user_index == b"\x00\xff" * 16
    assert stored.occurred_at == occurred
    assert stored.properties == properties
    assert stored.context == {"ip": "203.0.113.0"}


def test_rows_made_as_the_insert_takes_them_are_all_stored_in_order(db: Store) -> None:
    made: list[int] = []

    def rows(count: int) -> Iterator[tuple[object, ...]]:
        for n, row in enumerate(_rows(db, count, tag="g")):
            made.append(n)
            yield row

    with db.sessions.begin() as session:
        insert_rows(session.connection(), table_of(Event), _COLUMNS, rows(0))  # none: fine
        insert_rows(session.connection(), table_of(Event), _COLUMNS, rows(300))
    with db.sessions() as session:
        stored = session.scalars(select(Event.message_id).order_by(Event.id)).all()
    assert stored == [f"g-{n}" for n in range(300)]
    assert made == list(range(300))

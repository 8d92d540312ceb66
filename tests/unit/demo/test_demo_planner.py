"""Planning without a database: deterministic per seed whatever the batch size, rows in the
driver form SQLAlchemy itself would produce, placeholders left for the writer."""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from clientvault.demo.catalogue import build_catalogue
from clientvault.demo.planner import EVENT_COLUMNS, DemoPlanner, PlanConfig, PlannedBatch
from clientvault.demo.summary import DuplicatePair
from clientvault.demo.truth import COLUMNS, read_truth, write_truth
from clientvault.demo.worker import PLANNER_FAILED, planned_elsewhere
from clientvault.errors import ClientVaultError
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.store.base import table_of
from clientvault.store.driver_sql import DialectRef, TableCodec

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
CONTENT = [EVENT_COLUMNS.index(c) for c in EVENT_COLUMNS if c not in {"id", "customer_id"}]


def _config(seed: int, batch_size: int, customers: int = 300) -> PlanConfig:
    return PlanConfig(
        seed=seed,
        customers=customers,
        batch_size=batch_size,
        now=NOW,
        default_region="FR",
        dialect=DialectRef("sqlite", "pysqlite"),
        product_ids={p.sku: n for n, p in enumerate(build_catalogue().products, start=1)},
    )


def _plan(seed: int, batch_size: int) -> list[PlannedBatch]:
    return list(DemoPlanner(_config(seed, batch_size)).batches())


def _events(batches: list[PlannedBatch]) -> list[tuple[Any, ...]]:
    rows = [row for batch in batches for row in batch.events]
    return sorted(tuple(row[i] for i in CONTENT) for row in rows)


def test_a_seed_plans_the_same_rows_whatever_the_batch_size() -> None:
    whole = _plan(seed=7, batch_size=300)
    again = _plan(seed=7, batch_size=300)
    assert [b.__dict__ for b in whole] == [b.__dict__ for b in again]
    pieces = _plan(seed=7, batch_size=64)
    assert [len(b.profiles) for b in pieces] == [64, 64, 64, 64, 44]
    assert _events(pieces) == _events(whole)
    assert [p for b in pieces for p in b.profiles] == whole[0].profiles
    assert [d for b in pieces for d in b.duplicates] == whole[0].duplicates
    assert _events(_plan(seed=8, batch_size=300)) != _events(whole)


def test_batches_hold_placeholders_for_what_only_the_writer_knows() -> None:
    [batch] = _plan(seed=7, batch_size=300)
    ids = [row[0] for row in batch.events]
    assert ids == list(range(len(batch.events)))  # positions, in time order
    times = [row[EVENT_COLUMNS.index("occurred_at")] for row in batch.events]
    assert times == sorted(times)
    customers = {row[EVENT_COLUMNS.index("customer_id")] for row in batch.events}
    assert customers == set(range(300))
    anonymous = {row[EVENT_COLUMNS.index("anonymous_index")] for row in batch.events}
    assert all(a is None or uuid.UUID(a).version == 4 for a in anonymous)
    assert all(
        row[EVENT_COLUMNS.index("user_index")].startswith("demo-7-u") for row in batch.events
    )
    for order_id, event_id, _, _ in batch.refunds:
        assert batch.events[event_id][EVENT_COLUMNS.index("name")] == "Order Refunded"
        assert 0 <= order_id < len(batch.orders)
    assert all(0 <= item[0] < len(batch.orders) for item in batch.items)


@pytest.mark.parametrize(
    ("name", "driver", "url"),
    [("sqlite", "pysqlite", "sqlite://"), ("postgresql", "psycopg", "postgresql+psycopg://h/x")],
)
def test_codecs_convert_like_sqlalchemy_does(name: str, driver: str, url: str) -> None:
    engine = create_engine(url)  # never connected
    ours = DialectRef(name, driver).load()
    assert DialectRef.of(engine) == DialectRef(name, driver)
    table = table_of(Order)
    columns = [c.name for c in table.columns]
    codec = TableCodec(table, columns, ours, deferred=("customer_id",))
    values = (
        1,
        "o-1",
        uuid.uuid4(),
        "completed",
        NOW,
        "EUR",
        Decimal("12.50"),
        Decimal("0.00"),
    )
    encoded = codec.encode(values)
    assert encoded[2] == values[2]  # deferred: left for the writer
    for column, value, driver_value in zip(columns, values, encoded, strict=True):
        process = table.c[column].type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        expected = value if process is None else process(value)
        if column != "customer_id":
            assert driver_value == expected, column
    assert codec.convert("customer_id", values[2]) == (
        table.c.customer_id.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        or (lambda v: v)
    )(values[2])
    assert "INSERT INTO orders" in codec.sql
    engine.dispose()


def test_transactions_are_planned_in_chunks_that_never_straddle_two() -> None:
    config = replace(_config(seed=7, batch_size=100, customers=250), chunk_size=40)
    batches = list(DemoPlanner(config).batches())
    assert [(b.start, len(b.profiles)) for b in batches] == [
        (0, 40),
        (40, 40),
        (80, 20),
        (100, 40),
        (140, 40),
        (180, 20),
        (200, 40),
        (240, 10),
    ]
    assert _events(batches) == _events(list(DemoPlanner(_config(7, 250, 250)).batches()))


def test_json_columns_hold_the_same_documents_as_sqlalchemy_writes() -> None:
    engine = create_engine("sqlite://")  # never connected
    column = table_of(Event).c.properties
    theirs = column.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    ours = TableCodec(table_of(Event), EVENT_COLUMNS, DialectRef("sqlite", "pysqlite").load())
    document = {"title": "Pull en laine — Demo Shop", "price": 59.9, "tags": [1, None, True]}
    assert theirs is not None
    encoded = ours.encode([document if c == "properties" else None for c in EVENT_COLUMNS])
    assert json.loads(encoded[EVENT_COLUMNS.index("properties")]) == json.loads(theirs(document))
    engine.dispose()


def test_codec_columns_must_follow_the_table() -> None:
    dialect = DialectRef("sqlite", "pysqlite").load()
    with pytest.raises(ValueError, match="table order"):
        TableCodec(table_of(Event), ["type", "message_id"], dialect)
    with pytest.raises(ValueError, match="deferred"):
        TableCodec(table_of(Event), ["message_id"], dialect, deferred=["type"])
    with pytest.raises(ValueError, match="unsupported"):
        DialectRef("mysql", "pymysql").load()


def test_the_truth_file_round_trips_ids_only(tmp_path: Path) -> None:
    pairs = [
        DuplicatePair(uuid.uuid4(), uuid.uuid4(), "name_typo+email_alias"),
        DuplicatePair(uuid.uuid4(), uuid.uuid4(), "exact_copy"),
    ]
    path = tmp_path / "demo" / "duplicates.csv"
    write_truth(path, pairs)
    assert read_truth(path) == pairs
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [len(row) for row in rows] == [3, 3, 3]
    assert not list(path.parent.glob(".*partial"))


def test_a_planner_failing_in_its_process_is_reported_not_hung() -> None:
    config = replace(_config(seed=7, batch_size=50), product_ids={})  # every order fails
    with pytest.raises(ClientVaultError) as failure, planned_elsewhere(config) as batches:
        list(batches)
    assert failure.value.code == PLANNER_FAILED
    assert "KeyError" in failure.value.details["trace"]

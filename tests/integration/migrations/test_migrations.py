"""The migrations are the schema: autogenerate finds no drift, and down/up round-trips."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SAWarning

from clientvault.migrations.runner import downgrade, pending, upgrade
from clientvault.migrations.schema import DATA_METADATA, KEYSTORE_METADATA
from clientvault.store.context import Store


def _drift(engine: Engine, metadata: object) -> list[object]:
    with engine.connect() as connection, warnings.catch_warnings():
        # Autogenerate cannot compare an index on an expression (SQLite's reflection cannot
        # even read one, and says so): those are checked by name below.
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index", SAWarning
        )
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_as_batch": True,
                "include_object": lambda _, name, kind, *__: (
                    kind != "index" or name not in EXPRESSION_INDEXES
                ),
            },
        )
        return list(compare_metadata(context, metadata))  # type: ignore[arg-type]


#: The indexes on an expression the migrations make.
EXPRESSION_INDEXES = {"ix_customers_id_tail"}


def _expression_indexes(engine: Engine) -> set[str]:
    if engine.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND instr(sql, 'substr(')"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE strpos(indexdef, 'substr(') > 0"
    with engine.connect() as connection:
        return {name for (name,) in connection.exec_driver_sql(sql)}


def test_models_and_migrations_agree(db: Store) -> None:
    assert _drift(db.engine, DATA_METADATA) == []
    assert _expression_indexes(db.engine) == EXPRESSION_INDEXES
    assert _drift(db.keystore.engine, KEYSTORE_METADATA) == []
    assert not pending("data", db.engine)
    assert not pending("keystore", db.keystore.engine)


def test_downgrade_to_base_then_upgrade_restores_the_schema(db: Store) -> None:
    for target, engine, metadata in (
        ("data", db.engine, DATA_METADATA),
        ("keystore", db.keystore.engine, KEYSTORE_METADATA),
    ):
        downgrade(target, engine, "base")  # type: ignore[arg-type]
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert pending(target, engine)  # type: ignore[arg-type]
        upgrade(target, engine)  # type: ignore[arg-type]
        assert set(inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
        assert _drift(engine, metadata) == []
    db.keystore.record_key_checks()

"""What the benchmarks share: timing, reporting, and throw-away installations."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from clientvault.migrations.install import initialise
from clientvault.migrations.runner import upgrade
from clientvault.settings import DatabaseSettings, KeystoreSettings, Settings
from clientvault.store.context import Store, open_store

PG_URL = os.environ.get("CLIENTVAULT_BENCH_PG_URL") or os.environ.get("CLIENTVAULT_TEST_PG_URL")


def median_seconds(run: Callable[[], None], *, repeats: int = 3) -> float:
    """The median wall time of ``repeats`` runs (the machines are shared and noisy)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    """The median and 99th percentile of latencies in seconds, in milliseconds."""
    ordered = sorted(samples)
    return (
        1000 * statistics.quantiles(ordered, n=100, method="inclusive")[49],
        1000 * statistics.quantiles(ordered, n=100, method="inclusive")[98],
    )


def report(name: str, *, ours: float, baseline: float, unit: str) -> None:
    """Print one result line: ours, the same-run baseline, and ours relative to it."""
    print(
        f"{name}: ours {ours:,.0f} {unit}, baseline {baseline:,.0f} {unit}, "
        f"ratio {ours / baseline:.3f}",
        flush=True,
    )


def backends() -> list[str]:
    """SQLite always; PostgreSQL when a URL is configured."""
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@contextmanager
def pg_databases(prefix: str = "cv_bench") -> Iterator[list[str]]:
    """The URLs of two new PostgreSQL databases (data, keystore), dropped afterwards."""
    assert PG_URL is not None
    admin = create_engine(
        make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    names = [f"{prefix}_{uuid.uuid4().hex[:8]}", f"{prefix}_{uuid.uuid4().hex[:8]}_keys"]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield [
            make_url(PG_URL)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
            for name in names
        ]
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def blank_settings(
    backend: str, *, database: DatabaseSettings | None = None, tmp_prefix: str = "cv-bench-"
) -> Iterator[Settings]:
    """Settings of a new, not yet migrated installation on ``backend``, deleted afterwards.

    ``database`` is used as given on SQLite (on PostgreSQL the URLs of new databases are)."""
    with tempfile.TemporaryDirectory(prefix=tmp_prefix) as tmp:
        if backend == "sqlite":
            if database is None:
                yield Settings(env="test", data_dir=Path(tmp))
            else:
                yield Settings(env="test", data_dir=Path(tmp), database=database)
            return
        with pg_databases() as urls:
            yield Settings(
                env="test",
                data_dir=Path(tmp),
                database=DatabaseSettings(url=urls[0]),
                keystore=KeystoreSettings(url=urls[1]),
            )


@contextmanager
def fresh_installation(backend: str, *, sqlite_synchronous: str = "FULL") -> Iterator[Store]:
    """A new, migrated installation on ``backend``, deleted afterwards."""
    database = DatabaseSettings(sqlite_synchronous=sqlite_synchronous)  # type: ignore[arg-type]
    with blank_settings(backend, database=database) as settings:
        store = initialise(settings)
        try:
            yield store
        finally:
            store.close()


@contextmanager
def kept_installation(backend: str, keep: Path) -> Iterator[tuple[Store, bool]]:
    """An installation kept between runs under ``keep`` (its key file, and on SQLite its
    database), and whether it existed already: a bench generates its data only once, and a
    kept one is migrated to the code's schema first.

    On PostgreSQL its databases are ``cv_bench_keep_<name of keep>`` (and ``..._keys``), created
    when missing and left in place; drop them (or delete ``keep``) when done."""
    keep.mkdir(parents=True, exist_ok=True, mode=0o700)
    keep.chmod(0o700)
    database = DatabaseSettings(sqlite_synchronous="NORMAL")
    settings = Settings(env="test", data_dir=keep, database=database)
    if backend == "postgresql":
        assert PG_URL is not None
        settings = Settings(
            env="test",
            data_dir=keep,
            database=DatabaseSettings(url=_kept_database(f"cv_bench_keep_{keep.name}")),
            keystore=KeystoreSettings(url=_kept_database(f"cv_bench_keep_{keep.name}_keys")),
        )
    existed = settings.key_file.exists()
    store = open_store(settings) if existed else initialise(settings)
    if existed:  # brought up to the code's schema: the indexes a later migration adds
        upgrade("data", store.engine)
        upgrade("keystore", store.keystore.engine)
    try:
        yield store, existed
    finally:
        store.close()


def _kept_database(name: str) -> str:
    """The URL of the PostgreSQL database ``name``, created when missing."""
    assert PG_URL is not None
    admin = create_engine(
        make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return (
        make_url(PG_URL)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )

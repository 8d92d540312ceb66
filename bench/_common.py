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
from clientvault.settings import DatabaseSettings, KeystoreSettings, Settings
from clientvault.store.context import Store

PG_URL = os.environ.get("CLIENTVAULT_BENCH_PG_URL") or os.environ.get("CLIENTVAULT_TEST_PG_URL")


def median_seconds(run: Callable[[], None], *, repeats: int = 3) -> float:
    """The median wall time of ``repeats`` runs (the machines are shared and noisy)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
def fresh_installation(backend: str, *, sqlite_synchronous: str = "FULL") -> Iterator[Store]:
    """A new, migrated installation on ``backend``, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="cv-bench-") as tmp:
        if backend == "sqlite":
            database = DatabaseSettings(sqlite_synchronous=sqlite_synchronous)  # type: ignore[arg-type]
            store = initialise(Settings(env="test", data_dir=Path(tmp), database=database))
            try:
                yield store
            finally:
                store.close()
            return
        assert PG_URL is not None
        admin = create_engine(
            make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
        )
        names = [f"cv_bench_{uuid.uuid4().hex[:8]}", f"cv_bench_{uuid.uuid4().hex[:8]}_keys"]
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        urls = [
            make_url(PG_URL)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
            for name in names
        ]
        settings = Settings(
            env="test",
            data_dir=Path(tmp),
            database=DatabaseSettings(url=urls[0]),
            keystore=KeystoreSettings(url=urls[1]),
        )
        store = initialise(settings)
        try:
            yield store
        finally:
            store.close()
            with admin.connect() as connection:
                for name in names:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

"""Backup and restore throughput vs a plain ``cp`` of the same file, and peak memory.

Setup: ``generate_demo`` for ``--base`` customers (10,000) in a fresh installation (SQLite, or
PostgreSQL with ``--backend postgresql`` and ``CLIENTVAULT_BENCH_PG_URL``), then
grown by seeded SQL-level cloning (``_replicate.py``: one ``INSERT ... SELECT`` per table, the
journal off, indexes rebuilt once) to each of ``--sizes`` in turn (100,000 and 1,000,000 by
default; the twins get no data keys, so a restore's sample decrypt picks an original).
Ours: ``create_backup`` of the data database (online snapshot, zstd, age, signed manifest, to
a local target) and ``restore`` of it into a new path (verify every checksum, decrypt,
re-apply erasures, migrate, row counts, audit chain, a sample decrypt).
Baseline: ``shutil.copyfile`` of the database's files (``cp``, each fsynced: SQLite's file, or
the files of the PostgreSQL database's directory under ``base/``, after a ``CHECKPOINT``; a
restore goes into a new database there) in the same run: the ratio
lines are bytes per second, ours over cp's (below 1: slower than a copy). The machines are
shared and noisy, so each size runs ``--repeats`` rounds (3), each round a cp, a backup and a
restore one after the other, and the lines give the medians.
Memory: each backup and restore runs in a child process; its peak RSS (``VmHWM``, the largest
of the rounds) at the smallest and the largest size shows whether memory stays flat as the
database grows.
Cipher: ``pyrage.encrypt`` of one 8 MiB chunk vs AES-256-GCM (``cryptography``) of the same
bytes: what age's streaming format costs over a bare AEAD.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pyrage
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from _common import blank_settings, median_seconds, pg_databases, report
from _replicate import replicate
from clientvault.demo.generator import generate_demo
from clientvault.migrations.install import initialise
from clientvault.settings import BackupSettings, BackupTargetSettings, DatabaseSettings, Settings
from clientvault.store.file_modes import sqlite_file

CHILD = """
import json, sys, time
import clientvault.migrations.install
from clientvault.backup.create import create_backup
from clientvault.backup.restore import restore
from clientvault.migrations.schema import load_holders
from clientvault.security.principal import Principal
from clientvault.settings import Settings
settings = Settings.model_validate_json(sys.argv[2])
start = time.perf_counter()
if sys.argv[1] == "backup":
    create_backup(settings, "data")
else:
    load_holders()
    restore(settings, target_url=sys.argv[3], tombstones={},
            principal=Principal.system("bench", "privacy:manage", "pii:reveal"), force=True)
seconds = time.perf_counter() - start
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(json.dumps({"seconds": seconds, "peak_kib": int(status.split()[0])}))
"""


def _child(*arguments: str) -> tuple[float, int]:
    """Run one backup or restore in a child process: its own seconds and peak RSS (KiB).

    The peak is the child's ``VmHWM``: ``ru_maxrss`` survives ``execve`` on Linux, so a
    child's would report this (larger) parent's pages as its own."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *arguments], stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child {arguments[0]} failed")
    measured = json.loads(done.stdout)
    return measured["seconds"], measured["peak_kib"]


def _files(settings: Settings) -> list[Path]:
    """The data database's files. SQLite: the file and, when a checkpoint could not empty
    it, its WAL (an online backup reads both, so the copy it is compared with copies both).
    PostgreSQL: the files of the database's directory under the server's ``base`` (after a
    checkpoint: what is committed is in them)."""
    url = settings.database_url
    database = sqlite_file(url)
    if database is not None:
        wal = Path(f"{database}-wal")
        return [database, wal] if wal.exists() and wal.stat().st_size else [database]
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("CHECKPOINT"))
            home = connection.scalar(text("SHOW data_directory"))
            oid = connection.scalar(
                text("SELECT oid FROM pg_database WHERE datname = current_database()")
            )
    finally:
        engine.dispose()
    return sorted(path for path in Path(home, "base", str(oid)).iterdir() if path.is_file())


def _cp_seconds(settings: Settings, folder: Path) -> float:
    """One fsynced copy of the database's files: the baseline a backup and a restore
    compare to."""

    def copy() -> None:
        for each in _files(settings):
            target = folder / each.name
            shutil.copyfile(each, target)
            with target.open("rb+") as handle:
                os.fsync(handle.fileno())  # a backup is flushed to disk too
            target.unlink()

    return median_seconds(copy, repeats=1)


@contextmanager
def _restore_target(settings: Settings, folder: Path) -> Iterator[str]:
    """An empty database to restore into: a new file, or a new PostgreSQL database dropped
    after."""
    if sqlite_file(settings.database_url) is not None:
        yield f"sqlite:///{folder / 'restored.db'}"
        (folder / "restored.db").unlink(missing_ok=True)
        return
    with pg_databases("cv_bench_restore") as urls:
        yield urls[0]


def _rounds(settings: Settings, folder: Path, repeats: int) -> dict[str, Any]:
    """``repeats`` rounds of cp, backup, restore: median seconds of each, largest peak RSS."""
    as_json = settings.model_dump_json()
    seconds: dict[str, list[float]] = {"cp": [], "backup": [], "restore": []}
    peak = {"backup": 0, "restore": 0}
    for _ in range(repeats):
        seconds["cp"].append(_cp_seconds(settings, folder))
        took, rss = _child("backup", as_json)
        seconds["backup"].append(took)
        peak["backup"] = max(peak["backup"], rss)
        with _restore_target(settings, folder) as target:
            took, rss = _child("restore", as_json, target)
        seconds["restore"].append(took)
        peak["restore"] = max(peak["restore"], rss)
        print("  round: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in seconds.items()), flush=True)
    return {"median": {k: statistics.median(v) for k, v in seconds.items()}, "rss": peak}


def _cipher(size: int = 8 << 20) -> None:
    data = os.urandom(size)
    recipient = pyrage.x25519.Identity.generate().to_public()
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    ours = median_seconds(lambda: pyrage.encrypt(data, [recipient]), repeats=5)
    baseline = median_seconds(lambda: aead.encrypt(os.urandom(12), data, None), repeats=5)
    report(
        "encrypt 8 MiB: age (pyrage) vs AES-256-GCM",
        ours=size / ours / 2**20,
        baseline=size / baseline / 2**20,
        unit="MiB/s",
    )


def _measure(installation: Settings, customers: int, repeats: int) -> tuple[int, int]:
    """Print the throughput lines of one size; its peak RSS (KiB) of a backup and a restore."""
    database = sqlite_file(installation.database_url)
    if database is not None:
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    mib = sum(each.stat().st_size for each in _files(installation)) / 2**20
    backend = "sqlite" if database is not None else "postgresql"
    with tempfile.TemporaryDirectory(prefix="cv-bench-backup-") as tmp:
        folder = Path(tmp)
        settings = installation.model_copy(
            update={
                "backup": BackupSettings(
                    targets=[BackupTargetSettings(name="disk", path=folder / "target")],
                    key_file=folder / "backup.key",
                    scratch_dir=folder / "scratch",
                )
            }
        )
        measured = _rounds(settings, folder, repeats)
    median = measured["median"]
    for what in ("backup", "restore"):
        report(
            f"{what}[{backend}] {customers:,} customers ({mib:,.0f} MiB) vs cp",
            ours=mib / median[what],
            baseline=mib / median["cp"],
            unit="MiB/s",
        )
    peak = measured["rss"]["backup"], measured["rss"]["restore"]
    print(  # as it goes: the larger size may be cut short on a busy machine
        f"  peak RSS at {customers:,} customers: backup {peak[0] / 1024:,.0f} MiB, "
        f"restore {peak[1] / 1024:,.0f} MiB",
        flush=True,
    )
    return peak


def main() -> None:
    """Generate the base, then grow it to each size and measure there."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=int, default=10_000, help="customers generated")
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="customers measured at, comma-separated multiples of --base, smallest first",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="postgresql: CLIENTVAULT_BENCH_PG_URL names the server (pg_dump on PATH)",
    )
    options = parser.parse_args()
    sizes = sorted(int(each) for each in options.sizes.split(","))
    if any(size % options.base for size in sizes):
        parser.error("every size must be a multiple of --base")
    _cipher()
    rss: dict[int, tuple[int, int]] = {}
    database = DatabaseSettings(sqlite_synchronous="NORMAL")
    with blank_settings(options.backend, database=database) as installation:
        store = initialise(installation)
        try:
            began = time.perf_counter()
            generate_demo(store, customers=options.base, seed=options.seed, default_region="FR")
            print(f"  generated {options.base:,} customers in {time.perf_counter() - began:.0f} s")
            for size in sizes:
                began = time.perf_counter()
                replicate(store, size // options.base, seed=options.seed, keys=False)
                print(f"  grown to {size:,} customers in {time.perf_counter() - began:.0f} s")
                store.engine.dispose()  # then the database in its file, if nothing holds the WAL
                rss[size] = _measure(installation, size, options.repeats)
        finally:
            store.close()
    small, large = sizes[0], sizes[-1]
    for index, what in enumerate(("backup", "restore")):
        report(
            f"peak RSS of a {what}: {large:,} vs {small:,} customers",
            ours=rss[large][index] / 1024,
            baseline=rss[small][index] / 1024,
            unit="MiB",
        )


if __name__ == "__main__":
    main()

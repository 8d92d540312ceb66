"""Importing customers from a CSV file vs a raw executemany of the same rows.

A synthetic customers CSV (nine columns: id, e-mail, names, phone, street, postal code, city,
country) is written to a temporary file, row by row. Ours: ``import_customers`` on that file,
as ``clientvault import customers`` runs it (every row an identify call through the tracking
pipeline: validate, normalise, create and wrap a data key, seal, blind-index, stitch, event
log), in chunks of ``CHUNK_ROWS`` (10,000) rows, one transaction each. Baseline: the same file
read with the csv module and inserted as nine text columns with one ``executemany`` per chunk, one
transaction each, into a scratch table of the same kind of database. Both are measured in this
run, each in its own fresh process on its own fresh installation, with the peak resident memory
of that process (``ru_maxrss``): the import streams, so its peak stays flat whatever the file
size.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import Column, MetaData, Table, Text

sys.path.insert(0, str(Path(__file__).parent))

from _common import backends, fresh_installation, report
from clientvault.ingest.bulk_import import CHUNK_ROWS, import_customers
from clientvault.store.context import Store

CHUNK = CHUNK_ROWS
HEADER = [
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
]


def write_csv(path: Path, rows: int, *, seed: int = 7) -> None:
    """A synthetic customers file, written row by row (never held in memory)."""
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    firsts = [fake.first_name() for _ in range(500)]
    lasts = [fake.last_name() for _ in range(2000)]
    streets = [fake.street_name() for _ in range(1000)]
    places = [(fake.postcode(), fake.city()) for _ in range(500)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            postcode, city = rng.choice(places)
            writer.writerow(
                [
                    f"c-{i}",
                    f"customer{i}@example.com",
                    rng.choice(firsts),
                    rng.choice(lasts),
                    f"06{i % 100_000_000:08d}",
                    f"{rng.randint(1, 300)} {rng.choice(streets)}",
                    postcode,
                    city,
                    "FR",
                ]
            )


def raw_insert(store: Store, path: Path) -> int:
    """The baseline: the CSV's rows into a nine-text-column table, executemany per chunk."""
    table = Table("bench_raw_import", MetaData(), *(Column(name, Text) for name in HEADER))
    table.create(store.engine)
    marks = ", ".join("?" if store.engine.dialect.name == "sqlite" else "%s" for _ in HEADER)
    statement = f"INSERT INTO bench_raw_import VALUES ({marks})"
    count = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        while True:
            chunk = [tuple(row) for _, row in zip(range(CHUNK), reader, strict=False)]
            if not chunk:
                break
            with store.engine.begin() as connection:
                connection.exec_driver_sql(statement, chunk)
            count += len(chunk)
    return count


def _measure(side: str, backend: str, path: Path, rows: int, results: Any) -> None:
    """One side in its own process, on a fresh installation: wall time and peak memory."""
    with fresh_installation(backend) as store:
        started = time.perf_counter()
        if side == "ours":
            with path.open("rb") as stream:
                summary = import_customers(
                    store,
                    stream=stream,
                    default_region="FR",
                    source="bench",
                    error_report=path.with_suffix(".errors.csv"),
                )
            count = summary.accepted
        else:
            count = raw_insert(store, path)
        seconds = time.perf_counter() - started
    if count != rows:
        raise SystemExit(f"{side}: expected {rows} rows stored, got {count}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    results.put((seconds, peak_mib))


def _in_child(side: str, backend: str, path: Path, rows: int) -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_measure, args=(side, backend, path, rows, results))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"the {side} run failed on {backend}")
    seconds, peak = results.get()
    return float(seconds), float(peak)


def run(backend: str, rows: int, workdir: Path) -> None:
    """Measure both sides on one backend, each in a fresh process, and print the results."""
    path = workdir / "customers.csv"
    if not path.exists():
        write_csv(path, rows)
    ours_seconds, ours_peak = _in_child("ours", backend, path, rows)
    baseline_seconds, baseline_peak = _in_child("baseline", backend, path, rows)
    report(
        f"import_customers[{backend}, {rows:,} rows]",
        ours=rows / ours_seconds,
        baseline=rows / baseline_seconds,
        unit="rows/s",
    )
    print(
        f"import_customers_memory[{backend}, {rows:,} rows]: ours {ours_peak:,.0f} MiB peak "
        f"RSS, baseline {baseline_peak:,.0f} MiB, ratio {ours_peak / baseline_peak:.3f} "
        f"(import took {ours_seconds:,.1f} s, file {path.stat().st_size / 2**20:,.0f} MiB)",
        flush=True,
    )


def main() -> None:
    """Parse options, write the file once, and run on every available backend."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cv-bench-import-") as tmp:
        for backend in [args.backend] if args.backend else backends():
            run(backend, args.rows, Path(tmp))


if __name__ == "__main__":
    main()

"""Consistent copies of a running database, and what a manifest says about them.

- SQLite: the online backup API (``sqlite3.Connection.backup``), which copies a consistent
  state while the server keeps writing (pages changed mid-copy restart the step).
- PostgreSQL: ``pg_dump --format=custom`` from the PATH (Debian package
  ``postgresql-client``), run on a snapshot exported by a repeatable-read transaction that
  also counts the rows: the manifest's counts are those of the dump, not of a moment later.

Both describe the copy the same way (``SnapshotFacts``): row count per table, the audit
log's head hash and the Alembic revision.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    String,
    column,
    create_engine,
    func,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.engine import make_url

from clientvault.errors import ConfigurationError
from clientvault.store.file_modes import sqlite_file

#: The Alembic version table (not counted: it is the schema revision).
VERSION_TABLE = "alembic_version"
PG_CLIENT_PACKAGE = "postgresql-client"
_PR_SET_PDEATHSIG = 1


@dataclass
class SnapshotFacts:
    """What a manifest records of a snapshot."""

    backend: str
    tables: dict[str, int] = field(default_factory=dict)
    schema_revision: str | None = None
    audit_head: str | None = None


def backend_of(url: str) -> str:
    """``sqlite`` or ``postgresql``."""
    return make_url(url).get_backend_name()


def facts(connection: Connection) -> SnapshotFacts:
    """Row counts of every table, the schema revision and the audit head, read through one
    connection (in its transaction, hence of one consistent state)."""
    found = SnapshotFacts(backend=connection.dialect.name)
    names = sorted(inspect(connection).get_table_names())
    for name in names:
        if name == VERSION_TABLE:
            query: Select[str] = select(column("version_num", String)).select_from(table(name))
            revisions = sorted(str(r) for r in connection.scalars(query))
            found.schema_revision = ",".join(revisions) or None
            continue
        count = connection.execute(select(func.count()).select_from(table(name))).scalar_one()
        found.tables[name] = int(count)
    if "audit_log" in names:
        found.audit_head = connection.execute(
            select(column("entry_hash"))
            .select_from(table("audit_log"))
            .order_by(column("id").desc())
            .limit(1)
        ).scalar()
    return found


def sqlite_facts(path: Path) -> SnapshotFacts:
    """``facts`` of a SQLite file, opened read-only."""
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with engine.connect() as connection:
            return facts(connection)
    finally:
        engine.dispose()


def snapshot_sqlite(url: str, destination: Path) -> SnapshotFacts:
    """Copy a live SQLite database into ``destination`` with the online backup API, and
    describe the copy. One step (``pages=-1``): a single read transaction, so the copy is
    one consistent state; in WAL mode writers go on meanwhile (a copy in several steps would
    restart whenever another connection writes, possibly forever under steady load)."""
    source_path = sqlite_file(url)
    if source_path is None or not source_path.exists():
        raise ConfigurationError(f"no SQLite database file to back up for {url!r}")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(descriptor)
    target = sqlite3.connect(destination)
    try:
        source.backup(target, pages=-1)
        # The copy is a plain file: no WAL beside it to lose when it is moved.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    return sqlite_facts(destination)


def pg_tool(name: str) -> str:
    """The path of ``pg_dump`` / ``pg_restore``, or a clear error naming the package."""
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(
            f"{name} is not on the PATH: install the PostgreSQL client tools "
            f"(Debian/Ubuntu: apt-get install {PG_CLIENT_PACKAGE}) at the server's major version"
        )
    return found


def libpq_environment(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment carrying it
    (``PGPASSWORD``), so the password never shows in a process listing."""
    parsed = make_url(url)
    environment = dict(os.environ)
    if parsed.password is not None:
        environment["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environment


def _pg_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed)


@contextmanager
def exported_pg_snapshot(url: str) -> Iterator[tuple[str, SnapshotFacts]]:
    """A repeatable-read transaction held open, its exported snapshot id and the facts read
    in it; ``pg_dump --snapshot`` then dumps exactly what was counted."""
    engine = _pg_engine(url)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                snapshot_id = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                yield str(snapshot_id), facts(connection)
    finally:
        engine.dispose()


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the process that started it dies (Linux
    ``PR_SET_PDEATHSIG``). A restore killed midway must not leave a ``pg_restore`` running on
    to commit behind the mark, nor racing the next restore."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_pg_tool(name: str, url: str, arguments: list[str]) -> None:
    """Run ``pg_dump`` or ``pg_restore`` on the database at ``url`` (password through the
    environment); ``ConfigurationError`` with the tool's own message if it fails."""
    uri, environment = libpq_environment(url)
    completed = subprocess.run(  # noqa: S603 (fixed argument list, no shell)
        [pg_tool(name), "--no-owner", "--no-privileges", f"--dbname={uri}", *arguments],
        env=environment,
        preexec_fn=_die_with_parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise ConfigurationError(f"{name} failed: {completed.stderr.strip()[:500]}")


def snapshot_postgresql(url: str, destination: Path) -> SnapshotFacts:
    """``pg_dump -Fc`` of a running PostgreSQL database into ``destination``, consistent
    with the row counts returned."""
    pg_tool("pg_dump")  # before the transaction: a clear error if it is missing
    with exported_pg_snapshot(url) as (snapshot_id, found):
        run_pg_tool(
            "pg_dump",
            url,
            ["--format=custom", f"--snapshot={snapshot_id}", f"--file={destination}"],
        )
    os.chmod(destination, 0o600)
    return found


def take_snapshot(url: str, destination: Path) -> SnapshotFacts:
    """A consistent snapshot of the database at ``url`` into ``destination``."""
    backend = backend_of(url)
    if backend == "sqlite":
        return snapshot_sqlite(url, destination)
    if backend == "postgresql":
        return snapshot_postgresql(url, destination)
    raise ConfigurationError(f"cannot back up a {backend!r} database")


def pg_restore(dump: Path, url: str) -> None:
    """``pg_restore`` a custom-format dump into the (empty) database at ``url``; one
    transaction, so a failure leaves the database as it was."""
    run_pg_tool("pg_restore", url, ["--single-transaction", "--exit-on-error", str(dump)])

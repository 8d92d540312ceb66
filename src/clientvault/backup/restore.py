"""Restoring a backup into an empty database or a new path, verified before and after.

The order, each step refusing (``BackupRefused``) rather than going on:

1. the target is empty (or ``force``), checked before anything is fetched;
2. the manifest's signature and every chunk's SHA-256 are checked (``archive``) and the
   snapshot decoded in the scratch folder: until then nothing is written to the target;
3. the target is marked unusable (SQLite: a ``<file>.restore-incomplete`` marker, the data
   going to ``<file>.restoring``; PostgreSQL: a ``clientvault_restore_incomplete`` table),
   then the snapshot is restored (SQLite: copied; PostgreSQL: ``pg_restore`` in one
   transaction);
4. row counts against the manifest and the audit chain against its head;
5. erasure tombstones re-applied (``privacy.erasure.reapply_tombstones``) from the live
   register given by the caller, so erasures made since the backup hold;
6. migrations to the current schema (the migrator ``clientvault.migrations`` registers:
   this package sits below it);
7. the audit chain again and a sample decrypt through ``security.pii`` (audited);
8. the restore audited in the restored database, the mark removed (SQLite: renamed into place).

A process killed at any point leaves either nothing or a target that is marked and, for
SQLite, not even at its path; ``open_store`` on it is refused by ``check_restore_marks``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, MetaData, String, Table, create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from clientvault.backup import archive
from clientvault.backup.catalogue import BackupEntry, latest_complete, list_backups
from clientvault.backup.create import scratch_dir, url_of
from clientvault.backup.errors import BackupRefused
from clientvault.backup.keys import BackupKeys, load_keys
from clientvault.backup.snapshot import backend_of, facts, pg_restore
from clientvault.backup.targets import Target, targets_for
from clientvault.errors import ConfigurationError
from clientvault.identity.models import Customer
from clientvault.identity.profiles import reveal_identifiers
from clientvault.privacy.erasure import reapply_tombstones
from clientvault.privacy.models import ErasedCustomer
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store
from clientvault.store.file_modes import sqlite_file

#: Brings an opened store's databases to the current schema (``migrations.install.migrate``).
Migrator = Callable[[Store], None]
#: The table marking a PostgreSQL database whose restore has not finished.
MARK_TABLE = "clientvault_restore_incomplete"
MARK_SUFFIX = ".restore-incomplete"
WORK_SUFFIX = ".restoring"
RESTORE_REASON = "backup restore: integrity check"
_migrators: list[Migrator] = []


def register_migrator(migrate: Migrator) -> None:
    """Called by ``clientvault.migrations`` when imported: how a restore reaches the current
    schema, although this package cannot import the migrations (they sit above it)."""
    _migrators[:] = [migrate]


def registered_migrator() -> Migrator:
    """The registered migrator, or a clear error if ``clientvault.migrations`` was never
    imported in this process."""
    if not _migrators:
        raise ConfigurationError("no migrator registered: import clientvault.migrations.install")
    return _migrators[0]


@dataclass
class RestoreReport:
    """What a restore did and checked (counts and ids, no personal data)."""

    backup_id: str
    kind: str
    target: str
    source_target: str
    created_at: str
    schema_before: str | None = None
    schema_after: str | None = None
    tables_checked: int = 0
    rows_checked: int = 0
    audit_entries: int = 0
    customers_erased_again: int = 0
    keys_destroyed: int = 0
    register_rows_restored: int = 0
    sample_decrypted: bool | None = None
    seconds: float = 0.0
    steps: list[str] = field(default_factory=list)
    #: Told of each step as it is done (a background task's progress); not in ``as_dict``.
    on_step: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def step(self, done: str) -> None:
        """Record a step done, and tell ``on_step``."""
        self.steps.append(done)
        if self.on_step is not None:
            self.on_step(done)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {name: value for name, value in self.__dict__.items() if name != "on_step"}


# ---- the target ---------------------------------------------------------------------------


def describe_target(url: str) -> str:
    """A database as shown to people: the SQLite file, or the PostgreSQL database's name
    (never the URL, which may carry a password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(sqlite_file(url))
    return f"postgresql database {parsed.database}"


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed)


def _tables(url: str) -> list[str]:
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return list(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def check_restore_marks(url: str) -> None:
    """Refuse a database whose restore did not finish (``ConfigurationError``, naming it)."""
    path = sqlite_file(url)
    if path is not None:
        if Path(f"{path}{MARK_SUFFIX}").exists():
            raise ConfigurationError(
                f"{path}: a restore into it did not finish ({path.name}{MARK_SUFFIX}); "
                "restore again with --force, or remove the marker after checking it yourself"
            )
        return
    if MARK_TABLE in _tables(url):
        raise ConfigurationError(
            f"{describe_target(url)}: a restore into it did not finish (table {MARK_TABLE}); "
            "restore again with --force"
        )


def _refuse_live(url: str, *, force: bool) -> None:
    """A target holding tables (or a SQLite file with any) is refused without ``force``;
    with it, SQLite files are removed and a PostgreSQL schema emptied — after verification."""
    path = sqlite_file(url)
    if path is not None:
        if path.exists() and path.stat().st_size > 0 and not force:
            raise BackupRefused(f"{path} exists: restoring over a database needs --force")
        if not path.parent.is_dir():
            raise ConfigurationError(f"the directory of {path} does not exist")
        return
    if _tables(url) and not force:
        raise BackupRefused(f"{describe_target(url)} is not empty: restoring over it needs --force")


def _empty_postgresql(url: str) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _mark_postgresql(url: str, backup_id: str) -> None:
    engine = _engine(url)
    table = Table(MARK_TABLE, MetaData(), Column("backup_id", String(64)))
    try:
        with engine.begin() as connection:
            table.create(connection, checkfirst=True)
            connection.execute(table.insert().values(backup_id=backup_id))
    finally:
        engine.dispose()


def _unmark_postgresql(url: str) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            Table(MARK_TABLE, MetaData()).drop(connection, checkfirst=True)
    finally:
        engine.dispose()


# ---- verification -------------------------------------------------------------------------


def verify_backup(
    settings: Settings,
    kind: str,
    backup_id: str | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Check a backup (the newest complete one by default) on every target it is complete
    on: signature, every chunk's SHA-256, and the decrypted snapshot's hash. Returns its
    manifest; ``BackupRefused`` naming the first file at fault on any target."""
    targets = targets_for(settings, kind)
    entry = complete_entry(targets, kind, backup_id)
    keys = load_keys(settings)  # after: no key file means no backup, said first
    manifest: dict[str, Any] = {}
    for target in targets:
        if target.name in entry.complete_on:
            work = _work_dir(settings, f"verify-{entry.backup_id}-{target.name}")
            try:
                verified = archive.download_verified(
                    target, kind, entry.backup_id, keys, work, progress=progress
                )
                archive.decode_snapshot(verified, keys, work / "snapshot")
                manifest = verified.manifest
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return manifest


def verify_recorded(
    store: Store, settings: Settings, kind: str, backup_id: str, *, principal: Principal
) -> dict[str, Any]:
    """``verify_backup``, and the verification recorded in the installation's audit log
    (who checked which backup: the API's verify); returns the manifest."""
    manifest = verify_backup(settings, kind, backup_id)
    record_on_backup(store, "backup.verified", backup_id, principal=principal)
    return manifest


def record_restore(store: Store, report: RestoreReport, *, kind: str, principal: Principal) -> None:
    """Record in the live installation's audit log that a backup was restored (and into
    what): ``restore`` audits in the restored database, which may be elsewhere."""
    details = {"target": report.target, "kind": kind}
    record_on_backup(
        store, "backup.restored", report.backup_id, principal=principal, details=details
    )


def record_on_backup(
    store: Store,
    action: str,
    backup_id: str,
    *,
    principal: Principal,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit entry about a backup, in its own transaction of the live installation
    (backup tasks and the API's verify and restore record through it)."""
    with store.sessions.begin() as session:
        audit.record(
            session,
            principal=principal,
            action=action,
            target_type="backup",
            target_ids=[backup_id],
            details=details,
        )


def complete_entry(targets: list[Target], kind: str, backup_id: str | None) -> BackupEntry:
    """The backup ``backup_id`` (the newest complete one by default), or ``BackupRefused``
    when there is none or it is complete on no target."""
    if backup_id is None:
        entry = latest_complete(targets, kind)
        if entry is None:
            raise BackupRefused(f"there is no complete {kind} backup on the targets")
        return entry
    for entry in list_backups(targets, kind):
        if entry.backup_id == backup_id:
            if not entry.complete:
                raise BackupRefused(f"backup {backup_id} is not complete on any target")
            return entry
    raise BackupRefused(f"no {kind} backup {backup_id} on the targets")


def _work_dir(settings: Settings, name: str) -> Path:
    work = scratch_dir(settings) / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    return work


def _fetch(
    settings: Settings,
    targets: list[Target],
    kind: str,
    backup_id: str | None,
    keys: BackupKeys,
    work: Path,
    progress: Callable[[int], None] | None,
) -> tuple[str, dict[str, Any], Path]:
    """Verify and decode a backup from the first target whose copy is intact (3-2-1: a
    damaged copy falls back to the next); refused, naming every fault, if none is."""
    entry = complete_entry(targets, kind, backup_id)
    faults = []
    for target in targets:
        if target.name not in entry.complete_on:
            continue
        try:
            verified = archive.download_verified(
                target, kind, entry.backup_id, keys, work, progress=progress
            )
            archive.decode_snapshot(verified, keys, work / "snapshot")
        except BackupRefused as exc:
            faults.append(exc.message)
            continue
        return target.name, verified.manifest, work / "snapshot"
    raise BackupRefused("; ".join(faults))


# ---- restore ------------------------------------------------------------------------------


def restore(
    settings: Settings,
    *,
    kind: str = "data",
    target_url: str,
    tombstones: dict[str, Any],
    principal: Principal,
    backup_id: str | None = None,
    force: bool = False,
    migrate: Migrator | None = None,
    progress: Callable[[int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> RestoreReport:
    """Restore a backup of ``kind`` (the newest complete one by default) into
    ``target_url``, with the checks of the module's docstring.

    ``settings`` are the installation's (targets, backup key, key file); a data backup is
    opened with this installation's keystore, a keystore backup with its data database.
    ``tombstones`` is ``privacy.erasure.tombstone_snapshot`` of the live register.
    ``principal`` needs ``privacy:manage`` and ``pii:reveal`` (the erasures and the sample
    decrypt are audited under it). ``progress`` is told of the bytes fetched and verified,
    ``on_step`` of each later step."""
    started = time.monotonic()
    if kind not in ("data", "keystore"):
        raise ValueError(f"unknown backup kind {kind!r}")
    check_target(settings, kind, target_url, force=force)
    keys = load_keys(settings)
    targets = targets_for(settings, kind)
    work = _work_dir(settings, f"restore-{os.getpid()}-{int(time.time())}")
    try:
        source, manifest, snapshot = _fetch(
            settings, targets, kind, backup_id, keys, work, progress
        )
        report = RestoreReport(
            backup_id=manifest["backup_id"],
            kind=kind,
            target=describe_target(target_url),
            source_target=source,
            created_at=manifest["created_at"],
            schema_before=manifest["schema_revision"],
            on_step=on_step,
        )
        report.step(f"verified {len(manifest['chunks'])} chunk(s) from {source}")
        expected_backend = "sqlite" if manifest["snapshot"]["format"] == "sqlite" else "postgresql"
        if backend_of(target_url) != expected_backend:
            raise BackupRefused(
                f"a {expected_backend} backup cannot be restored into {describe_target(target_url)}"
            )
        # Nothing was written to the target until here.
        working_url = _place(snapshot, target_url, report.backup_id, force=force)
        report.step("restored the snapshot (target marked unusable)")
        _check_and_finish(
            settings, kind, working_url, manifest, tombstones, principal, migrate, report
        )
        _unmark(target_url, working_url)
        report.step("removed the unusable mark")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def check_target(settings: Settings, kind: str, target_url: str, *, force: bool = False) -> None:
    """Refuse (``BackupRefused``) a target that is the installation's live database of
    ``kind`` or holds data, unless ``force``: the check a restore makes before fetching
    anything, also made when a restore is asked for, to say so at once."""
    if _same_database(url_of(settings, kind), target_url) and not force:
        raise BackupRefused(
            f"{describe_target(target_url)} is this installation's live {kind} database: "
            "restoring over it needs --force"
        )
    _refuse_live(target_url, force=force)


def _same_database(a: str, b: str) -> bool:
    path_a, path_b = sqlite_file(a), sqlite_file(b)
    if path_a is not None or path_b is not None:
        return path_a is not None and path_b is not None and path_a.resolve() == path_b.resolve()
    url_a, url_b = make_url(a), make_url(b)
    return (url_a.host, url_a.port, url_a.database) == (url_b.host, url_b.port, url_b.database)


def _place(snapshot: Path, target_url: str, backup_id: str, *, force: bool) -> str:
    """Write the snapshot to the target, marked; the URL the checks then open."""
    path = sqlite_file(target_url)
    if path is None:
        if force:
            _empty_postgresql(target_url)
        _mark_postgresql(target_url, backup_id)
        pg_restore(snapshot, target_url)
        return target_url
    marker = Path(f"{path}{MARK_SUFFIX}")
    marker.write_text(
        json.dumps({"backup_id": backup_id, "started_at": datetime.now(UTC).isoformat()})
    )
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)  # only with --force (checked before) or empty
    working = Path(f"{path}{WORK_SUFFIX}")
    for name in (working, Path(f"{working}-wal"), Path(f"{working}-shm")):
        name.unlink(missing_ok=True)
    shutil.move(snapshot, working)
    os.chmod(working, 0o600)
    return f"sqlite:///{working}"


def _opened(settings: Settings, kind: str, url: str) -> Store:
    if kind == "data":
        database = settings.database.model_copy(update={"url": url})
        return open_store(settings.model_copy(update={"database": database}), checkpoint_wal=False)
    keystore = settings.keystore.model_copy(update={"url": url})
    return open_store(settings.model_copy(update={"keystore": keystore}), checkpoint_wal=False)


def _check_and_finish(
    settings: Settings,
    kind: str,
    url: str,
    manifest: dict[str, Any],
    tombstones: dict[str, Any],
    principal: Principal,
    migrate: Migrator | None,
    report: RestoreReport,
) -> None:
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            found = facts(connection)
    finally:
        engine.dispose()
    for table, rows in manifest["tables"].items():
        if found.tables.get(table) != rows:
            raise BackupRefused(
                f"table {table}: {found.tables.get(table)} row(s) restored, "
                f"the manifest says {rows}"
            )
    report.tables_checked = len(manifest["tables"])
    report.rows_checked = sum(manifest["tables"].values())
    report.step(f"row counts of {report.tables_checked} tables match the manifest")
    store = _opened(settings, kind, url)
    try:
        if kind == "data":
            _verify_chain(store, manifest["audit_head"], report)
        with store.sessions.begin() as session:
            reapplied = reapply_tombstones(
                session, store, principal=principal, reason="backup restore", snapshot=tombstones
            )
        report.customers_erased_again = reapplied.customers_erased
        report.keys_destroyed = reapplied.keys_destroyed
        report.register_rows_restored = reapplied.register_rows_restored
        report.step(
            f"re-applied erasures: {reapplied.customers_erased} customer(s) erased again, "
            f"{reapplied.keys_destroyed} key(s) destroyed"
        )
        (migrate or registered_migrator())(store)
        with (store.engine if kind == "data" else store.keystore.engine).connect() as connection:
            report.schema_after = facts(connection).schema_revision
        report.step(f"migrated to {report.schema_after}")
        if kind == "data":
            with store.sessions.begin() as session:
                report.sample_decrypted = _sample_decrypt(session, store, principal)
                audit.record(
                    session,
                    principal=principal,
                    action="backup.restored",
                    target_type="backup",
                    target_ids=[report.backup_id],
                    reason="restore",
                    details={
                        "rows_checked": report.rows_checked,
                        "erased_again": report.customers_erased_again,
                    },
                )
            _verify_chain(store, None, report)
            report.step(
                "audit chain verified; sample decrypt "
                + ("done" if report.sample_decrypted else "skipped: no customer")
            )
    finally:
        store.close()


def _verify_chain(store: Store, head: str | None, report: RestoreReport) -> None:
    with store.read_sessions() as session:
        checked = audit.verify(session, expected_head=head)
    if not checked.ok:
        raise BackupRefused(
            f"the restored audit chain does not verify: {checked.problem} "
            f"at entry {checked.broken_at}"
        )
    report.audit_entries = checked.entries


def _sample_decrypt(session: Session, store: Store, principal: Principal) -> bool | None:
    """Open one customer's identifiers through the audited reveal path: the restored data
    and this keystore belong together. ``None`` when no customer can be opened (none, or
    all erased)."""
    erased = select(ErasedCustomer.customer_id)
    candidates = session.scalars(
        select(Customer.id)
        .where(
            Customer.status != "erased",
            Customer.id.not_in(erased),
            Customer.email_sealed.is_not(None),
        )
        .order_by(Customer.id)
        .limit(20)
    ).all()
    usable = [c for c in candidates if c not in store.keystore.without_keys([c])]
    if not usable:
        return None
    opened = reveal_identifiers(
        session,
        store,
        principal=principal,
        customer_ids=usable[:1],
        fields=("email",),
        reason=RESTORE_REASON,
    )
    return all(identifiers.email for identifiers in opened.values())


def _unmark(target_url: str, working_url: str) -> None:
    path = sqlite_file(target_url)
    if path is None:
        _unmark_postgresql(target_url)
        return
    working = sqlite_file(working_url)
    assert working is not None
    connection = sqlite3.connect(working)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
    os.replace(working, path)
    Path(f"{path}{MARK_SUFFIX}").unlink()

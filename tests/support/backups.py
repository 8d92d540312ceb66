"""Helpers of the backup tests: installations with local backup targets, a fresh database
to restore into, and a content checksum of a whole database."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from clientvault.migrations.schema import DATA_METADATA
from clientvault.security.accounts import define_role
from clientvault.security.models import User
from clientvault.security.principal import Principal
from clientvault.settings import BackupSettings, BackupTargetSettings, Settings
from support.postgres import create_pg_database, drop_pg_database
from support.staff import create_staff


def with_backups(settings: Settings, root: Path, **extra: object) -> Settings:
    """``settings`` backing up to local targets under ``root`` (data and keystore apart)."""
    backup = BackupSettings(
        targets=[BackupTargetSettings(name="disk1", path=root / "disk1")],
        keystore_targets=[BackupTargetSettings(name="keys1", path=root / "keys1")],
        key_file=root / "backup.key",
        scratch_dir=root / "scratch",
        chunk_mib=1,
        **extra,  # type: ignore[arg-type]
    )
    return settings.model_copy(update={"backup": backup})


@contextmanager
def fresh_database(settings: Settings, folder: Path, name: str = "restored") -> Iterator[str]:
    """The URL of an empty database of the installation's backend (a new SQLite path, or a
    new PostgreSQL database dropped afterwards)."""
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{folder / f'{name}.db'}"
        return
    database = f"cv_restore_{uuid.uuid4().hex[:10]}"
    url = create_pg_database(database)
    try:
        yield url
    finally:
        drop_pg_database(database)


def engine_of(url: str) -> Engine:
    """A plain engine (no store) on a database."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed)


def content_digests(url: str, *, skip: frozenset[str] = frozenset()) -> dict[str, tuple[int, str]]:
    """Per table of the data schema: row count and a SHA-256 of every row, in primary-key
    order (what a restore must give back exactly)."""
    engine = engine_of(url)
    found: dict[str, tuple[int, str]] = {}
    try:
        with engine.connect() as connection:
            for table in DATA_METADATA.sorted_tables:
                if table.name in skip:
                    continue
                order = list(table.primary_key.columns) or list(table.columns)
                digest = hashlib.sha256()
                count = 0
                for row in connection.execute(select(table).order_by(*order)):
                    digest.update(repr(tuple(row)).encode())
                    count += 1
                found[table.name] = (count, digest.hexdigest())
    finally:
        engine.dispose()
    return found


def remove_default_backups(settings: Settings) -> None:
    """Remove what backups with the default settings leave in the data dir (the PostgreSQL
    test installation's data dir is shared by every test)."""
    for name in ("backups", "keystore-backups", "backup-scratch", "backup-tasks", "restores"):
        shutil.rmtree(settings.data_dir / name, ignore_errors=True)
    (settings.data_dir / "backup.key").unlink(missing_ok=True)


def add_backup_operator(session: Session, settings: Settings, email: str) -> User:
    """A member of staff whose role ``operator`` holds ``keys:manage`` only (backups, keys;
    no MFA required, no personal data), password ``support.staff.STRONG``."""
    define_role(
        session,
        name="operator",
        permissions={"keys:manage"},
        description="keeps the backups",
        by=Principal.system("test"),
    )
    user = create_staff(session, settings, email=email, role="operator", display_name="Ops").user
    user.must_change_password = False
    return user

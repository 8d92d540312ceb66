"""Setting up an installation: data directory, key file, both databases at the newest schema."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from clientvault.backup.restore import register_migrator
from clientvault.errors import Conflict
from clientvault.migrations.runner import upgrade
from clientvault.privacy.purposes import ensure_default_purposes
from clientvault.privacy.records import ensure_default_records
from clientvault.security import audit, audit_checkpoints
from clientvault.security.accounts import ensure_builtin_roles
from clientvault.settings import AuditSettings, Settings
from clientvault.store import keyfile
from clientvault.store.context import Store, open_store
from clientvault.store.engine import make_engine


def initialise(settings: Settings) -> Store:
    """Create a new installation and return it opened; refuses to touch an existing one.

    An existing key file or an already-migrated database means an installation is there:
    overwriting either would make its data unreadable, so both are refused before anything
    is written.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys_from_file = settings.keystore.key_material is None
    if keys_from_file and settings.key_file.exists():
        raise Conflict(f"an installation exists already (key file {settings.key_file})")
    probe = make_engine(settings.database_url)
    try:
        if "alembic_version" in inspect(probe).get_table_names():
            raise Conflict("an installation exists already (the database has a schema)")
    finally:
        probe.dispose()
    if keys_from_file:
        settings.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        keyfile.write(settings.key_file, keyfile.generate())
    store = open_store(settings, verify_keys=False)
    migrate(store)
    store.keystore.record_key_checks()
    if audit_checkpoints.configured(settings.audit):
        audit_checkpoints.take(store, settings.audit)
    return store


def migrate(store: Store, audit_settings: AuditSettings | None = None) -> None:
    """Bring the main database and the keystore to the newest schema, refresh the built-in
    roles to this version's definitions, add missing default records of processing and
    default purposes, and seal an audit chain written before keyed hashes.

    With a checkpoint target in ``audit_settings``, a signed checkpoint is taken at once, so
    the upgrade's moment (the seal) is witnessed off the machine."""
    upgrade("data", store.engine)
    upgrade("keystore", store.keystore.engine)
    with store.sessions.begin() as session:
        ensure_defaults(session)
        audit.seal(session)
    if audit_settings is not None and audit_checkpoints.configured(audit_settings):
        audit_checkpoints.take(store, audit_settings)


def ensure_defaults(session: Session) -> None:
    """The rows every installation starts with: the built-in roles as this version defines
    them, and any missing default records of processing and purposes (idempotent)."""
    ensure_builtin_roles(session)
    ensure_default_records(session)
    ensure_default_purposes(session)


#: A restore (``clientvault.backup``, below this package) migrates what it restored with this.
register_migrator(migrate)

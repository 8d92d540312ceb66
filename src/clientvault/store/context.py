"""The opened store: main database, keystore and key material, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from clientvault.errors import ConfigurationError
from clientvault.settings import Settings
from clientvault.store import keyfile
from clientvault.store.engine import make_engine, make_session_factory
from clientvault.store.file_modes import refuse_shared
from clientvault.store.group_commit import GroupCommitter
from clientvault.store.keyfile import KeyMaterial
from clientvault.store.keystore import Keystore
from clientvault.store.sealing import blind_index
from clientvault.store.wal_checkpoints import WalCheckpointer, with_fallback_checkpoints_only

#: ``Session.info`` key of the audit chain's HMAC key, in every session a store opens: the
#: audit log (``security.audit``) is written and checked through any session, with no store.
AUDIT_KEY_INFO = "clientvault.audit_key"


@dataclass
class Store:
    """Everything a service needs to read and write customer data."""

    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    keystore: Keystore
    #: Shares transactions between concurrent short writes that must each be durable before
    #: they are acknowledged (tracking calls): one commit for all that overlap.
    group_commit: GroupCommitter
    #: Checkpoints a SQLite WAL off the commit path (``None`` on PostgreSQL).
    checkpointer: WalCheckpointer | None = None

    def index(self, kind: str, value: str) -> bytes:
        """The blind index of a normalised identifier under this installation's index key."""
        return blind_index(self.keystore.material.index_key, kind, value)

    def close(self) -> None:
        """Release both databases' connections."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        self.keystore.engine.dispose()


def load_key_material(settings: Settings) -> KeyMaterial:
    """The key material from the secret variable if set, else from the key file."""
    secret = settings.keystore.key_material
    if secret is not None:
        return keyfile.parse(secret.get_secret_value(), origin="CLIENTVAULT_KEYSTORE__KEY_MATERIAL")
    return keyfile.read(settings.key_file)


def open_store(
    settings: Settings, *, verify_keys: bool = True, checkpoint_wal: bool = True
) -> Store:
    """Open an initialised installation's databases with its key material.

    With ``verify_keys`` (always, except while ``init`` creates the keystore) a key file that
    does not belong to this keystore is refused with a clear error, as are SQLite files that
    others may read (``store.file_modes``). A SQLite database's WAL is
    checkpointed by a thread rather than by this store's commits (``store.wal_checkpoints``),
    unless ``checkpoint_wal`` is false: for a process whose database another process of the
    same server checkpoints (a checkpoint copies every committed frame, whoever wrote it).
    """
    material = load_key_material(settings)
    refuse_shared([settings.database_url, settings.keystore_url])
    engine = make_engine(
        settings.database_url,
        synchronous=settings.database.sqlite_synchronous,
        echo=settings.database.echo,
    )
    keystore_engine = make_engine(settings.keystore_url, synchronous="FULL")
    info = {AUDIT_KEY_INFO: material.audit_key()}
    sessions = make_session_factory(engine, info=info)
    checkpointer = None
    if engine.dialect.name == "sqlite":
        with_fallback_checkpoints_only(engine)
        checkpointer = WalCheckpointer(engine) if checkpoint_wal else None
    store = Store(
        engine=engine,
        sessions=sessions,
        read_sessions=make_session_factory(engine, read_only=True, info=info),
        keystore=Keystore(keystore_engine, material),
        group_commit=GroupCommitter(sessions),
        checkpointer=checkpointer,
    )
    if verify_keys:
        try:
            store.keystore.verify_key_material()
        except (OperationalError, ProgrammingError) as exc:
            store.close()
            raise ConfigurationError(
                "the keystore is not initialised; run `clientvault init` or `clientvault migrate`"
            ) from exc
        except ConfigurationError:
            store.close()
            raise
    if checkpointer is not None:
        checkpointer.start()
    return store

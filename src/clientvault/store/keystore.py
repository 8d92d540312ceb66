"""The keystore: one 256-bit data key per customer, wrapped by the key-encryption key (KEK).

It lives in its own database (its own SQLite file by default), apart from the data, so that it
can be backed up separately with a short retention. Destroying a customer's data key makes
every copy of their sealed fields unreadable at once, in the live database and in every
backup: this is how erasure reaches backups (crypto-shredding).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    String,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from clientvault.errors import ConfigurationError
from clientvault.store.base import NAMING_CONVENTION, Timestamp, new_id, utcnow
from clientvault.store.driver_sql import DialectRef, TableCodec, insert_rows
from clientvault.store.engine import READ_ONLY_OPTION
from clientvault.store.keyfile import KEY_BYTES, KeyMaterial

_WRAP_NONCE = 12
#: What is said of a customer whose data key is gone (ids only, never personal data).
ERASED_MESSAGE = (
    "customer {customer_id} was erased: their data key is destroyed, so nothing of theirs can "
    "be read (a database restored from before the erasure still has their profile)"
)
_BATCH = 900  # stays under SQLite's bound-parameter limit in IN (...) lists


class KeystoreBase(DeclarativeBase):
    """Base of the keystore's own tables (a separate database from the customer data)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: Timestamp}


class DataKeyRecord(KeystoreBase):
    """A customer's data key, wrapped (AES-256-GCM) under one version of the KEK."""

    __tablename__ = "data_keys"

    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    key_version: Mapped[int] = mapped_column(default=1)
    kek_version: Mapped[int] = mapped_column(index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KeyCheck(KeystoreBase):
    """A keyed digest proving which key file belongs to this keystore, so a wrong or
    swapped key file is refused at start-up instead of failing later on some customer."""

    __tablename__ = "key_checks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # "index" or "kek:<v>"
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key, held in memory only for the duration of one operation."""

    key_id: uuid.UUID
    key_version: int
    customer_id: uuid.UUID
    key: bytes


#: Fetches the unwrapped data keys of these customers (``Keystore.reading``).
KeyReader = Callable[[Iterable[uuid.UUID]], dict[uuid.UUID, DataKey]]


class _WrappedKey(Protocol):
    """What unwrapping reads of a stored key: a ``DataKeyRecord`` or a row of its columns."""

    key_id: uuid.UUID
    key_version: int
    customer_id: uuid.UUID
    kek_version: int
    wrapped_key: bytes


class Keystore:
    """Creates, unwraps, rotates and destroys customers' data keys."""

    def __init__(self, engine: Engine, material: KeyMaterial) -> None:
        self.engine = engine
        self.material = material
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: Reads of keys: on SQLite a deferred BEGIN, so decrypting never takes the keystore's
        #: write lock; on PostgreSQL no transaction at all (each read is one SELECT, which
        #: sees committed keys either way): no BEGIN and ROLLBACK round trips around it.
        reads = engine.execution_options(**{READ_ONLY_OPTION: True})
        if engine.dialect.name == "postgresql":
            reads = reads.execution_options(isolation_level="AUTOCOMMIT")
        self._read_engine = reads

    def create_keys(self, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DataKey]:
        """Create and durably store a new data key for each customer, in one transaction.

        Called before the customer rows are written, so data never refers to a missing key;
        a key whose customer row then fails to commit is an orphan that unlocks nothing.
        """
        kek_version = self.material.current_kek
        kek = AESGCM(self.material.kek(kek_version))
        codec = _key_codec(DialectRef.of(self.engine))
        created: dict[uuid.UUID, DataKey] = {}
        rows = []
        now = utcnow()
        for customer_id in customer_ids:
            key = DataKey(
                key_id=new_id(), key_version=1, customer_id=customer_id, key=os.urandom(KEY_BYTES)
            )
            created[customer_id] = key
            values = (key.key_id, customer_id, 1, kek_version, _wrap(kek, key), now)
            rows.append(tuple(codec.encode(values)))
        if rows:
            # At the driver (``store.driver_sql``): an import creates a key a row, and
            # SQLAlchemy's per-row parameter work cost more than the insert.
            with self.engine.begin() as connection:
                insert_rows(connection, codec.table, _KEY_COLUMNS, rows)
        return created

    def keys_for(self, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, DataKey]:
        """The unwrapped data keys of these customers; destroyed keys are simply absent."""
        with self.reading() as read:
            return read(customer_ids)

    @contextmanager
    def reading(self) -> Iterator[KeyReader]:
        """A ``keys_for`` that keeps one keystore connection for the whole block.

        Why: a job step that decrypts in several steps (an identity match: a profile, then
        the profiles it leads to) would otherwise take a connection from the pool for each
        one, which on PostgreSQL is a round trip of its own (the pool's liveness check).
        Each read still sees the keys committed when it runs, as ``keys_for`` does; the
        connection is taken at the first read.
        """
        with ExitStack() as stack:
            connections: list[Connection] = []

            def read(customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, DataKey]:
                if not connections:
                    connections.append(stack.enter_context(self._read_engine.connect()))
                try:
                    return self._read_keys(connections[0], customer_ids)
                finally:
                    # Ends SQLite's read transaction (PostgreSQL's reads are outside one).
                    connections[0].rollback()

            yield read

    def _read_keys(
        self, connection: Connection, customer_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, DataKey]:
        wanted = list(dict.fromkeys(customer_ids))
        found: dict[uuid.UUID, DataKey] = {}
        keys = DataKeyRecord.__table__.c
        # Core rows, not ORM objects: this runs on every decrypt (the identity match's twice).
        query = select(
            keys.key_id, keys.key_version, keys.customer_id, keys.kek_version, keys.wrapped_key
        )
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start : start + _BATCH]
            for row in connection.execute(query.where(keys.customer_id.in_(chunk))):
                found[row.customer_id] = self._unwrap(row)
        return found

    def without_keys(self, customer_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these customers have no data key (erased), without unwrapping any."""
        wanted = list(dict.fromkeys(customer_ids))
        keys = DataKeyRecord.__table__.c
        found: set[uuid.UUID] = set()
        with self._read_engine.connect() as connection:
            for start in range(0, len(wanted), _BATCH):
                chunk = wanted[start : start + _BATCH]
                found.update(
                    connection.scalars(select(keys.customer_id).where(keys.customer_id.in_(chunk)))
                )
        return set(wanted) - found

    def destroy(self, customer_id: uuid.UUID) -> bool:
        """Delete a customer's data key for good; returns whether there was one."""
        with self._sessions.begin() as session:
            result = session.execute(
                delete(DataKeyRecord).where(DataKeyRecord.customer_id == customer_id)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def count_by_kek_version(self) -> dict[int, int]:
        """How many data keys each KEK version wraps (rotation leaves only the current one)."""
        with self._sessions() as session:
            rows = session.execute(
                select(DataKeyRecord.kek_version, func.count()).group_by(DataKeyRecord.kek_version)
            )
            return {version: count for version, count in rows}

    def rewrap_all(
        self, new_material: KeyMaterial, *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Re-wrap every data key under ``new_material``'s current KEK, in one transaction.

        The data keys themselves do not change, so no sealed field is touched. Afterwards
        this keystore uses the new material.
        """
        new_version = new_material.current_kek
        new_kek = AESGCM(new_material.kek(new_version))
        count = 0
        with self._sessions.begin() as session:
            stale = session.scalars(
                select(DataKeyRecord).where(DataKeyRecord.kek_version != new_version)
            ).all()
            for record in stale:
                key = self._unwrap(record)
                session.execute(
                    update(DataKeyRecord)
                    .where(DataKeyRecord.key_id == record.key_id)
                    .values(wrapped_key=_wrap(new_kek, key), kek_version=new_version)
                )
                count += 1
                if progress is not None:
                    progress(1)
            session.execute(delete(KeyCheck))
            session.execute(insert(KeyCheck), _key_check_rows(new_material))
        self.material = new_material
        return count

    def total_keys(self) -> int:
        """How many data keys exist (one per customer not erased)."""
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(DataKeyRecord)) or 0

    def record_key_checks(self) -> None:
        """Store the digests of the current key material (at init and after rotation)."""
        with self._sessions.begin() as session:
            session.execute(delete(KeyCheck))
            session.execute(insert(KeyCheck), _key_check_rows(self.material))

    def verify_key_material(self) -> None:
        """Refuse key material that is not this keystore's (wrong or swapped key file), or
        an older copy of it: one whose current KEK is not the keystore's, as a key file put
        back from before ``clientvault keys rotate`` (the keystore's current version is the
        newest it has a check for; versions only grow)."""
        with self._sessions() as session:
            stored = {check.name: check.digest for check in session.scalars(select(KeyCheck))}
        expected = _key_checks(self.material)
        for name in ("index", f"kek:{self.material.current_kek}"):
            if name not in stored or not hmac.compare_digest(stored[name], expected[name]):
                raise ConfigurationError(
                    "the key file does not belong to this installation's keystore"
                )
        current = max(int(name.removeprefix("kek:")) for name in stored if name != "index")
        if self.material.current_kek != current:
            held = ", ".join(str(version) for version in sorted(self.material.keks))
            raise ConfigurationError(
                f"the key file holds key-encryption key version {held} (current "
                f"{self.material.current_kek}), but this keystore's current version is "
                f"{current} since `clientvault keys rotate`: it is an older copy of the key "
                "file; put back the one the rotation wrote"
            )

    def _unwrap(self, record: _WrappedKey) -> DataKey:
        kek = AESGCM(self.material.kek(record.kek_version))
        aad = _wrap_aad(record.key_id, record.key_version, record.customer_id)
        try:
            raw = kek.decrypt(
                record.wrapped_key[:_WRAP_NONCE], record.wrapped_key[_WRAP_NONCE:], aad
            )
        except InvalidTag:
            raise ConfigurationError(
                "a data key does not unwrap under the key file's KEK (wrong key file?)"
            ) from None
        return DataKey(
            key_id=record.key_id,
            key_version=record.key_version,
            customer_id=record.customer_id,
            key=raw,
        )


_KEY_COLUMNS = ("key_id", "customer_id", "key_version", "kek_version", "wrapped_key", "created_at")


@functools.lru_cache(maxsize=4)
def _key_codec(dialect: DialectRef) -> TableCodec:
    return TableCodec(DataKeyRecord.__table__, _KEY_COLUMNS, dialect.load())  # type: ignore[arg-type]


def _key_checks(material: KeyMaterial) -> dict[str, bytes]:
    label = b"clientvault-key-check"
    checks = {"index": hmac.new(material.index_key, label, hashlib.sha256).digest()}
    for version, kek in material.keks.items():
        checks[f"kek:{version}"] = hmac.new(kek, label, hashlib.sha256).digest()
    return checks


def _key_check_rows(material: KeyMaterial) -> list[dict[str, object]]:
    return [{"name": name, "digest": digest} for name, digest in _key_checks(material).items()]


def _wrap_aad(key_id: uuid.UUID, key_version: int, customer_id: uuid.UUID) -> bytes:
    return (
        b"clientvault-data-key|" + key_id.bytes + key_version.to_bytes(4, "big") + customer_id.bytes
    )


def _wrap(kek: AESGCM, key: DataKey) -> bytes:
    nonce = os.urandom(_WRAP_NONCE)
    return nonce + kek.encrypt(
        nonce, key.key, _wrap_aad(key.key_id, key.key_version, key.customer_id)
    )

"""Back up, erase a customer, restore the old backup: the customer stays erased, no
plaintext of theirs is in the restored files, and the current keystore cannot open their
fields in the old backup."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from clientvault.backup import archive
from clientvault.backup.create import create_backup
from clientvault.backup.keys import load_keys
from clientvault.backup.restore import restore
from clientvault.backup.snapshot import libpq_environment, pg_tool
from clientvault.backup.targets import targets_for
from clientvault.errors import Erased
from clientvault.identity.models import Customer
from clientvault.privacy.erasure import erase_customer, tombstone_snapshot
from clientvault.privacy.models import ErasedCustomer
from clientvault.security.pii import reveal
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store
from support.backups import engine_of, fresh_database
from support.privacy_core import DPO

#: What person 2 (``support.privacy_core.person``) is made of, as it would be stored if leaked.
PLAINTEXT = [b"person.2@example.com", b"Firstname2x", b"Lastname2y", b"0612345002"]


def _restored_bytes(url: str, folder: Path) -> bytes:
    """Every byte the restored database keeps: its files (SQLite), or a plain dump (PostgreSQL)."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))
    uri, environment = libpq_environment(url)
    dump = folder / "plain.sql"
    subprocess.run(
        [pg_tool("pg_dump"), "--format=plain", f"--file={dump}", f"--dbname={uri}"],
        env=environment,
        check=True,
    )
    return dump.read_bytes()


def test_an_erased_customer_stays_erased_after_restoring_an_older_backup(
    db: Store, bk_settings: Settings, customers: list[uuid.UUID], tmp_path: Path
) -> None:
    erased = customers[1]
    old = create_backup(bk_settings, "data")
    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=erased, principal=DPO, reason="art. 17")
    with db.read_sessions() as session:
        register = tombstone_snapshot(session)

    with fresh_database(bk_settings, tmp_path) as url:
        report = restore(bk_settings, target_url=url, tombstones=register, principal=DPO)
        engine = engine_of(url)
        try:
            with engine.connect() as connection:
                kept = set(connection.scalars(select(Customer.id)))
                register_ids = set(connection.scalars(select(ErasedCustomer.customer_id)))
        finally:
            engine.dispose()
        stored = _restored_bytes(url, tmp_path)
    assert report.customers_erased_again == 1
    assert report.register_rows_restored > 0
    assert erased not in kept
    assert set(customers) - {erased} <= kept
    assert erased in register_ids
    for value in PLAINTEXT:
        assert value not in stored, value
    assert b"person.1@example.com" not in stored  # sealed, never stored in clear

    # The old backup still holds the erased customer's sealed fields, but the keystore no
    # longer has the key that opens them.
    keys = load_keys(bk_settings)
    [target] = targets_for(bk_settings, "data")
    verified = archive.download_verified(target, "data", old.backup_id, keys, tmp_path)
    assert old.manifest["tables"]["customers"] == len(customers)
    assert verified.manifest["backup_id"] == old.backup_id
    assert db.keystore.keys_for([erased]) == {}
    assert set(db.keystore.keys_for(customers)) == set(customers) - {erased}
    if old.manifest["snapshot"]["format"] == "sqlite":
        snapshot = tmp_path / "old.db"
        archive.decode_snapshot(verified, keys, snapshot)
        engine = engine_of(f"sqlite:///{snapshot}")
        try:
            with engine.connect() as connection:
                sealed = connection.scalar(
                    select(Customer.email_sealed).where(Customer.id == erased)
                )
        finally:
            engine.dispose()
        assert sealed is not None
        with db.sessions() as session, pytest.raises(Erased):
            reveal(
                session,
                db.keystore,
                principal=DPO,
                subject_type="customer",
                rows={erased: {"email": sealed}},
                reason="test",
            )


def test_a_restored_keystore_loses_the_keys_of_customers_erased_since(
    db: Store, bk_settings: Settings, customers: list[uuid.UUID], tmp_path: Path
) -> None:
    erased = customers[0]
    create_backup(bk_settings, "keystore")
    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=erased, principal=DPO, reason="art. 17")
    with db.read_sessions() as session:
        register = tombstone_snapshot(session)
    with fresh_database(bk_settings, tmp_path, "keys") as url:
        report = restore(
            bk_settings, kind="keystore", target_url=url, tombstones=register, principal=DPO
        )
        keystore = bk_settings.keystore.model_copy(update={"url": url})
        restored = open_store(bk_settings.model_copy(update={"keystore": keystore}))
        try:
            kept = set(restored.keystore.keys_for(customers))
        finally:
            restored.close()
    assert report.keys_destroyed == 1
    assert kept == set(customers) - {erased}

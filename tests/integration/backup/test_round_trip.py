"""Back up, restore into a fresh database, and find everything as it was."""

from __future__ import annotations

import uuid
from pathlib import Path

from clientvault.backup.catalogue import list_backups
from clientvault.backup.create import create_backup
from clientvault.backup.restore import restore
from clientvault.backup.targets import targets_for
from clientvault.demo.generator import generate_demo
from clientvault.identity.profiles import reveal_identifiers
from clientvault.privacy.erasure import tombstone_snapshot
from clientvault.security import audit
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store
from support.backups import content_digests, fresh_database
from support.privacy_core import DPO


def _restored_settings(settings: Settings, url: str) -> Settings:
    database = settings.database.model_copy(update={"url": url})
    return settings.model_copy(update={"database": database})


def test_a_restored_database_equals_the_backup_and_decrypts(
    db: Store, bk_settings: Settings, customers: list[uuid.UUID], tmp_path: Path
) -> None:
    generate_demo(db, customers=12, seed=7, default_region="FR")  # events, orders, consents…
    result = create_backup(bk_settings, "data")
    assert result.complete_on == ["disk1"]
    before = content_digests(bk_settings.database_url)
    assert before["events"][0] > 0
    assert before["orders"][0] > 0
    with db.read_sessions() as session:
        register = tombstone_snapshot(session)
        head = audit.head(session)
    assert result.manifest["audit_head"] == head
    assert result.manifest["tables"]["customers"] >= len(customers) + 12

    with fresh_database(bk_settings, tmp_path) as url:
        report = restore(bk_settings, target_url=url, tombstones=register, principal=DPO)
        # The restore appends its own audit entries (the sample decrypt, the restore itself).
        after = content_digests(url)
        restored = open_store(_restored_settings(bk_settings, url))
        try:
            with restored.sessions.begin() as session:
                assert audit.verify(session, expected_head=head).ok
                opened = reveal_identifiers(
                    session, restored, principal=DPO, customer_ids=[customers[2]], reason="test"
                )
        finally:
            restored.close()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert after["audit_log"][0] > before["audit_log"][0]
    assert opened[customers[2]].email == "person.3@example.com"
    assert report.sample_decrypted is True
    assert report.customers_erased_again == 0
    assert report.schema_after == report.schema_before


def test_a_keystore_backup_restores_to_a_keystore_that_opens_the_data(
    db: Store, bk_settings: Settings, customers: list[uuid.UUID], tmp_path: Path
) -> None:
    result = create_backup(bk_settings, "keystore")
    assert [
        e.backup_id for e in list_backups(targets_for(bk_settings, "keystore"), "keystore")
    ] == [result.backup_id]
    assert list_backups(targets_for(bk_settings, "data"), "data") == []
    with db.read_sessions() as session:
        register = tombstone_snapshot(session)
    with fresh_database(bk_settings, tmp_path, "keys") as url:
        restore(bk_settings, kind="keystore", target_url=url, tombstones=register, principal=DPO)
        keystore = bk_settings.keystore.model_copy(update={"url": url})
        other = open_store(bk_settings.model_copy(update={"keystore": keystore}))
        try:
            with other.sessions.begin() as session:
                opened = reveal_identifiers(
                    session, other, principal=DPO, customer_ids=[customers[0]], reason="test"
                )
        finally:
            other.close()
    assert opened[customers[0]].first_name == "Firstname1x"

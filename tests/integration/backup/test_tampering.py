"""A backup that was altered is refused, naming the file, before anything is written."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from clientvault.backup.archive import COMPLETE, MANIFEST, SIGNATURE, canonical
from clientvault.backup.create import create_backup
from clientvault.backup.errors import BackupRefused
from clientvault.backup.keys import load_keys
from clientvault.backup.restore import restore
from clientvault.privacy.erasure import tombstone_snapshot
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.privacy_core import DPO


def _refused(settings: Settings, store: Store, target: Path, backup_id: str | None = None) -> str:
    with store.read_sessions() as session:
        register = tombstone_snapshot(session)
    with pytest.raises(BackupRefused) as refused:
        restore(
            settings,
            target_url=f"sqlite:///{target}",
            tombstones=register,
            principal=DPO,
            backup_id=backup_id,
        )
    assert not target.exists()
    assert list(target.parent.glob(f"{target.name}*")) == []  # no marker, no working copy
    return refused.value.message


@pytest.fixture
def backed_up(db: Store, bk_settings: Settings, customers: list[uuid.UUID]) -> Path:
    """The folder of one complete data backup on the local target."""
    if not bk_settings.database_url.startswith("sqlite"):
        pytest.skip("the format is the same on both backends: checked once")
    result = create_backup(bk_settings, "data")
    root = bk_settings.backup.targets[0].path
    assert root is not None
    return root / "data" / result.backup_id


@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_flipped_byte_anywhere_is_refused_naming_the_file(
    data: st.DataObject, db: Store, bk_settings: Settings, backed_up: Path, tmp_path: Path
) -> None:
    files = sorted(p for p in backed_up.rglob("*") if p.is_file() and p.name != COMPLETE)
    victim = data.draw(st.sampled_from(files))
    original = victim.read_bytes()
    offset = data.draw(st.integers(0, len(original) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(original)
    flipped[offset] ^= 1 << bit
    victim.write_bytes(bytes(flipped))
    try:
        message = _refused(bk_settings, db, tmp_path / f"restored-{uuid.uuid4().hex}.db")
    finally:
        victim.write_bytes(original)
    named = MANIFEST if victim.name == SIGNATURE else victim.relative_to(backed_up).as_posix()
    assert named in message


def test_a_missing_chunk_is_refused_naming_it(
    db: Store, bk_settings: Settings, backed_up: Path, tmp_path: Path
) -> None:
    chunk = sorted((backed_up / "chunks").iterdir())[0]
    chunk.unlink()
    message = _refused(bk_settings, db, tmp_path / "restored.db")
    assert f"chunks/{chunk.name} is missing" in message


def test_a_manifest_from_another_backup_is_refused(
    db: Store, bk_settings: Settings, backed_up: Path, tmp_path: Path
) -> None:
    other = create_backup(bk_settings, "data")
    other_folder = backed_up.parent / other.backup_id
    shutil.rmtree(other_folder)  # keep one complete backup: the one whose manifest is swapped
    # The other manifest is validly signed: it is caught as belonging elsewhere.
    body = canonical(other.manifest)
    (backed_up / MANIFEST).write_bytes(body)
    (backed_up / SIGNATURE).write_text(load_keys(bk_settings).sign(body))
    message = _refused(bk_settings, db, tmp_path / "restored.db")
    assert f"{MANIFEST} belongs to backup {other.backup_id}" in message


def test_a_backup_signed_with_another_key_is_refused(
    db: Store, bk_settings: Settings, backed_up: Path, tmp_path: Path
) -> None:
    key = bk_settings.backup.key_file
    assert key is not None
    key.rename(key.with_suffix(".old"))
    other = bk_settings.model_copy(
        update={
            "backup": bk_settings.backup.model_copy(update={"key_file": tmp_path / "other.key"})
        }
    )
    create_backup(other, "data")  # makes the other key
    message = _refused(other, db, tmp_path / "restored.db", backed_up.name)
    assert f"{backed_up.name}/{MANIFEST} does not match its signature" in message


def test_restoring_over_a_database_needs_force(
    db: Store, bk_settings: Settings, backed_up: Path
) -> None:
    with db.read_sessions() as session:
        register = tombstone_snapshot(session)
    with pytest.raises(BackupRefused, match="live data database"):
        restore(
            bk_settings, target_url=bk_settings.database_url, tombstones=register, principal=DPO
        )

"""Targets: a backup on a local directory and on an S3-compatible server (moto's
``ThreadedMotoServer`` on loopback, a real HTTP S3 endpoint), complete only on enough of
them; retention, pruning and health checks."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from clientvault.backup.catalogue import BackupEntry, list_backups, prune, to_keep
from clientvault.backup.create import create_backup
from clientvault.backup.errors import BackupRefused
from clientvault.backup.restore import restore, verify_backup
from clientvault.backup.targets import targets_for
from clientvault.privacy.erasure import tombstone_snapshot
from clientvault.settings import BackupRetention, BackupTargetSettings, Settings
from clientvault.store.context import Store
from support.privacy_core import DPO
from support.serving import free_port

BUCKET = "clientvault-backups"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on loopback for the module, with an object-lock bucket."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    yield endpoint
    server.stop()


def _s3(
    endpoint: str, *, prefix: str, lock_days: int | None = None, bucket: str = BUCKET
) -> BackupTargetSettings:
    return BackupTargetSettings(
        name="offsite",
        kind="s3",
        endpoint_url=endpoint,
        bucket=bucket,
        prefix=prefix,
        access_key_id="test",
        secret_access_key=SecretStr("test"),
        object_lock_days=lock_days,
    )


@pytest.fixture
def two_targets(bk_settings: Settings, s3_endpoint: str, tmp_path: Path) -> Settings:
    if not bk_settings.database_url.startswith("sqlite"):
        pytest.skip("targets do not depend on the database: checked on SQLite")
    targets = [
        *bk_settings.backup.targets,
        _s3(s3_endpoint, prefix=f"t-{uuid.uuid4().hex[:8]}", lock_days=1),
    ]
    return bk_settings.model_copy(
        update={"backup": bk_settings.backup.model_copy(update={"targets": targets})}
    )


def test_a_backup_is_complete_on_disk_and_s3_and_restores_from_s3_alone(
    db: Store, two_targets: Settings, customers: list[uuid.UUID], tmp_path: Path, s3_endpoint: str
) -> None:
    result = create_backup(two_targets, "data")
    assert result.complete_on == ["disk1", "offsite"]
    [entry] = list_backups(targets_for(two_targets, "data"), "data")
    assert entry.complete_on == ["disk1", "offsite"]
    assert entry.stored_bytes == result.stored_bytes
    s3 = targets_for(two_targets, "data")[1]
    lock = s3.client.head_object(
        Bucket=BUCKET, Key=f"{s3.prefix}/data/{result.backup_id}/manifest.json"
    )  # type: ignore[attr-defined]
    assert lock["ObjectLockMode"] == "COMPLIANCE"
    assert [h.ok for h in (t.health() for t in targets_for(two_targets, "data"))] == [True, True]

    # The local copy is lost: the restore falls back to the off-site one.
    local = two_targets.backup.targets[0].path
    assert local is not None
    shutil.rmtree(local / "data" / result.backup_id / "chunks")
    with db.read_sessions() as session:
        register = tombstone_snapshot(session)
    report = restore(
        two_targets, target_url=f"sqlite:///{tmp_path / 'r.db'}", tombstones=register, principal=DPO
    )
    assert report.source_target == "offsite"
    assert report.sample_decrypted is True


def test_a_backup_short_of_targets_is_complete_nowhere(
    db: Store, bk_settings: Settings, customers: list[uuid.UUID], s3_endpoint: str
) -> None:
    if not bk_settings.database_url.startswith("sqlite"):
        pytest.skip("targets do not depend on the database: checked on SQLite")
    broken = _s3(s3_endpoint, prefix="x", bucket="no-such-bucket")
    settings = bk_settings.model_copy(
        update={
            "backup": bk_settings.backup.model_copy(
                update={"targets": [*bk_settings.backup.targets, broken]}
            )
        }
    )
    with pytest.raises(BackupRefused, match="reached 1 target"):
        create_backup(settings, "data")
    entries = list_backups(targets_for(settings, "data"), "data")
    assert [e.complete for e in entries] == [False]
    assert not targets_for(settings, "data")[1].health().ok
    with pytest.raises(BackupRefused, match="no complete data backup"):
        verify_backup(settings, "data")
    # With one copy required, the same backup counts.
    enough = settings.model_copy(
        update={"backup": settings.backup.model_copy(update={"copies_required": 1})}
    )
    assert create_backup(enough, "data").complete_on == ["disk1"]


def _entry(moment: datetime) -> BackupEntry:
    return BackupEntry(f"{moment:%Y%m%dT%H%M%SZ}-00000000", "data", moment, complete_on=["disk1"])


def test_retention_keeps_the_newest_of_each_day_week_and_month() -> None:
    start = datetime(2026, 1, 1, 2, tzinfo=UTC)
    entries = [_entry(start + timedelta(hours=12 * n)) for n in range(200)]  # twice a day
    kept = to_keep(entries, BackupRetention(daily=3, weekly=2, monthly=2))
    newest = max(e.backup_id for e in entries)
    days = {e.created_at.date() for e in entries if e.backup_id in kept}
    assert newest in kept
    # 3 days + the newest of 2 weeks + of 2 months, some shared: never more than 7.
    assert 3 <= len(kept) <= 7
    assert len(days) == len(kept)
    assert to_keep(entries, BackupRetention(daily=0, weekly=0, monthly=0)) == {newest}


def test_pruning_removes_what_retention_drops_and_old_partial_backups(
    db: Store, bk_settings: Settings, customers: list[uuid.UUID]
) -> None:
    if not bk_settings.database_url.startswith("sqlite"):
        pytest.skip("targets do not depend on the database: checked on SQLite")
    now = datetime.now(UTC)
    made = [
        create_backup(bk_settings, "data", now=now - timedelta(days=d)).backup_id for d in (3, 2, 0)
    ]
    root = bk_settings.backup.targets[0].path
    assert root is not None
    partial = root / "data" / f"{now - timedelta(days=5):%Y%m%dT%H%M%SZ}-deadbeef"
    (partial / "chunks").mkdir(parents=True)
    targets = targets_for(bk_settings, "data")
    report = prune(targets, "data", BackupRetention(daily=2, weekly=0, monthly=0), now=now)
    assert sorted(report.removed["disk1"]) == sorted([made[0], partial.name])
    assert [e.backup_id for e in list_backups(targets, "data")] == [made[2], made[1]]


@given(
    hours=st.lists(st.integers(0, 24 * 400), min_size=1, max_size=60, unique=True),
    daily=st.integers(0, 10),
    weekly=st.integers(0, 6),
    monthly=st.integers(0, 6),
)
def test_retention_never_keeps_more_than_its_policy_and_always_the_newest(
    hours: list[int], daily: int, weekly: int, monthly: int
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [_entry(start + timedelta(hours=h)) for h in hours]
    kept = to_keep(entries, BackupRetention(daily=daily, weekly=weekly, monthly=monthly))
    assert max(e.backup_id for e in entries) in kept
    assert kept <= {e.backup_id for e in entries}
    assert len(kept) <= max(1, daily + weekly + monthly + 1)
    days = sorted({e.created_at.date() for e in entries}, reverse=True)
    for day in days[:daily]:  # the newest backup of each of the last `daily` days is kept
        newest = max(e.backup_id for e in entries if e.created_at.date() == day)
        assert newest in kept

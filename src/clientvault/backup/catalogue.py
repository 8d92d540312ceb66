"""What the targets hold: the catalogue of backups, read from the targets themselves.

Why the catalogue is files next to the backups rather than rows in the data database or the
keystore: it must survive the loss of both databases (the case a restore is for), and a
restore of an old data backup must not forget the backups made since. Each backup's folder
says what it is (its signed manifest) and whether it is complete (its ``COMPLETE`` marker);
drill records lie beside them in ``drills/``. Listing reads the markers, not the chunks.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clientvault.backup.archive import COMPLETE, folder
from clientvault.backup.targets import Target
from clientvault.settings import BackupRetention

KINDS = ("data", "keystore")
#: The folder of drill records on the data targets.
DRILLS = "drills"


@dataclass
class BackupEntry:
    """One backup as the catalogue lists it: complete on some targets, partial on others."""

    backup_id: str
    kind: str
    created_at: datetime
    stored_bytes: int = 0
    plain_bytes: int = 0
    complete_on: list[str] = field(default_factory=list)
    partial_on: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Complete on at least one target (its ``COMPLETE`` marker was written once enough
        targets held it)."""
        return bool(self.complete_on)


def created_of(backup_id: str) -> datetime:
    """The creation time a backup id starts with (``20260101T020000Z-...``)."""
    return datetime.strptime(backup_id.split("-", 1)[0], "%Y%m%dT%H%M%S%z")


def list_backups(targets: list[Target], kind: str) -> list[BackupEntry]:
    """Every backup of ``kind`` on the targets, newest first, with where it is complete."""
    entries: dict[str, BackupEntry] = {}
    for target in targets:
        try:
            _list_target(target, kind, entries)
        except Exception:  # noqa: S112 (an unreachable target lists nothing; health says why)
            continue
    return sorted(entries.values(), key=lambda e: e.backup_id, reverse=True)


def _list_target(target: Target, kind: str, entries: dict[str, BackupEntry]) -> None:
    for backup_id in target.children(kind):
        try:
            created = created_of(backup_id)
        except ValueError:
            continue  # not a backup folder
        entry = entries.setdefault(backup_id, BackupEntry(backup_id, kind, created))
        marker = target.get_bytes(f"{folder(kind, backup_id)}/{COMPLETE}")
        if marker is None:
            entry.partial_on.append(target.name)
            continue
        described = json.loads(marker)
        entry.stored_bytes = int(described.get("stored_bytes", 0))
        entry.plain_bytes = int(described.get("plain_bytes", 0))
        entry.complete_on.append(target.name)


def latest_complete(targets: list[Target], kind: str) -> BackupEntry | None:
    """The newest complete backup of ``kind``, if any."""
    return next((e for e in list_backups(targets, kind) if e.complete), None)


def to_keep(entries: list[BackupEntry], policy: BackupRetention) -> set[str]:
    """The complete backups a daily/weekly/monthly policy keeps: the newest of each of the
    last ``daily`` days, ``weekly`` ISO weeks and ``monthly`` months that have one (the
    usual grandfather-father-son rotation). The newest complete backup is always kept."""
    complete = sorted((e for e in entries if e.complete), key=lambda e: e.backup_id, reverse=True)
    keep = {complete[0].backup_id} if complete else set()
    buckets = (
        (policy.daily, lambda moment: moment.date().isoformat()),
        (policy.weekly, lambda moment: "{}-W{:02d}".format(*moment.isocalendar()[:2])),
        (policy.monthly, lambda moment: f"{moment:%Y-%m}"),
    )
    for count, bucket_of in buckets:
        seen: dict[str, str] = {}
        for entry in complete:
            bucket = bucket_of(entry.created_at)
            if bucket not in seen and len(seen) < count:
                seen[bucket] = entry.backup_id
        keep.update(seen.values())
    return keep


@dataclass
class PruneReport:
    """What a prune removed, per target, and what it could not (object-locked objects)."""

    removed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def prune(
    targets: list[Target],
    kind: str,
    policy: BackupRetention,
    *,
    now: datetime,
    partial_grace: timedelta = timedelta(days=1),
) -> PruneReport:
    """Remove complete backups the policy does not keep, and partial ones (a backup killed
    midway) older than ``partial_grace`` (a younger one may still be being written)."""
    entries = list_backups(targets, kind)
    keep = to_keep(entries, policy)
    report = PruneReport()
    for entry in entries:
        doomed = entry.complete_on if entry.backup_id not in keep and entry.complete else []
        if entry.created_at < now - partial_grace:
            doomed = doomed + entry.partial_on
        for target in targets:
            if target.name not in doomed:
                continue
            try:
                target.delete_prefix(folder(kind, entry.backup_id))
            except Exception:
                report.failed[target.name].append(entry.backup_id)
            else:
                report.removed[target.name].append(entry.backup_id)
    return report


@dataclass(frozen=True)
class DrillRecord:
    """One drill's outcome: recovery time (its duration) and recovery point (backup age)."""

    drill_id: str
    started_at: str
    finished_at: str
    ok: bool
    backup_id: str | None
    rto_seconds: float
    rpo_seconds: float | None
    problem: str | None
    report: dict[str, Any]

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> DrillRecord:
        """A record read back from a target."""
        return cls(**{name: document.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


def latest_drill(targets: list[Target]) -> DrillRecord | None:
    """The newest drill record on the first target that has any."""
    for target in targets:
        try:
            names = [k for k in target.keys(DRILLS) if k.endswith(".json")]
        except Exception:  # noqa: S112 (an unreachable target: try the next)
            continue
        for name in sorted(names, reverse=True):
            body = target.get_bytes(name)
            if body is not None:
                return DrillRecord.from_json(json.loads(body))
    return None

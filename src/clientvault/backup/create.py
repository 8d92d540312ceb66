"""Taking a backup: snapshot, chunks to every target, signed manifest, then ``COMPLETE``.

The order is what makes a crash harmless: chunks, manifest and signature go to every target
first; only when at least ``copies_required`` targets hold all of them is the ``COMPLETE``
marker written to those targets. A process killed before that leaves folders without a
marker, which list as partial (never as complete), are never restored, and are pruned
later; the next run starts a new backup.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy.engine import make_url

from clientvault.backup import archive
from clientvault.backup.errors import BackupRefused
from clientvault.backup.keys import load_keys
from clientvault.backup.snapshot import take_snapshot
from clientvault.backup.targets import Target, copies_required, targets_for
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store

#: Called with the number of snapshot bytes each step has just handled.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: its id, manifest, and the targets it is complete on."""

    backup_id: str
    kind: str
    manifest: dict[str, object]
    complete_on: list[str]
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def stored_bytes(self) -> int:
        """Bytes of chunks on each target."""
        return int(str(self.manifest["stored_bytes"]))


def scratch_dir(settings: Settings) -> Path:
    """The private working folder of backups and restores (made 0700)."""
    path = settings.backup.scratch_dir or settings.data_dir / "backup-scratch"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def new_backup_id(now: datetime) -> str:
    """A backup id that sorts by creation time: ``20260101T020000Z-1a2b3c4d``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _clientvault_version() -> str:
    try:
        return version("clientvault")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def url_of(settings: Settings, kind: str) -> str:
    """The URL of the database a kind of backup copies."""
    return settings.database_url if kind == "data" else settings.keystore_url


def _source(url: str) -> dict[str, str]:
    """Where a backup was taken from, without credentials or host names."""
    parsed = make_url(url)
    name = (
        Path(parsed.database or "").name
        if parsed.get_backend_name() == "sqlite"
        else parsed.database
    )
    return {
        "backend": parsed.get_backend_name(),
        "database": name or "",
        "clientvault": _clientvault_version(),
    }


def create_backup(
    settings: Settings, kind: str, *, progress: Progress | None = None, now: datetime | None = None
) -> BackupResult:
    """Back up the data database (``kind="data"``) or the keystore (``"keystore"``) to its
    targets. ``BackupRefused`` if fewer targets than required took it (nothing is then
    listed as complete)."""
    if kind not in ("data", "keystore"):
        raise ValueError(f"unknown backup kind {kind!r}")
    keys = load_keys(settings, create=True)
    targets = targets_for(settings, kind)
    required = copies_required(settings, targets)
    created = now or datetime.now(UTC)
    backup_id = new_backup_id(created)
    work = scratch_dir(settings) / f"create-{backup_id}"
    work.mkdir(mode=0o700)
    try:
        url = url_of(settings, kind)
        snapshot = work / "snapshot"
        facts = take_snapshot(url, snapshot)
        plain = archive.Plaintext()
        alive = list(targets)
        failed: dict[str, str] = {}
        where = archive.folder(kind, backup_id)
        chunks = []
        chunk_bytes = settings.backup.chunk_mib << 20
        for chunk in archive.encode_chunks(
            snapshot, work, keys, chunk_bytes=chunk_bytes, plain=plain
        ):
            alive = _to_each(alive, failed, partial(_put_chunk, where=where, chunk=chunk))
            chunk.path.unlink()
            chunks.append(chunk.describe())
            _enough(alive, required, failed)
            if progress is not None:
                progress(chunk.plain_bytes)
        snapshot.unlink()
        manifest: dict[str, object] = {
            "format": archive.FORMAT,
            "format_version": archive.FORMAT_VERSION,
            "backup_id": backup_id,
            "kind": kind,
            "created_at": created.isoformat(),
            "source": _source(url),
            "schema_revision": facts.schema_revision,
            "audit_head": (facts.audit_head or audit.GENESIS) if kind == "data" else None,
            "tables": facts.tables,
            "snapshot": {
                "format": "sqlite" if facts.backend == "sqlite" else "pg_dump-custom",
                "bytes": plain.size,
                "sha256": plain.digest.hexdigest(),
            },
            "compression": {"format": "zstd", "level": archive.ZSTD_LEVEL},
            "encryption": {"format": "age", "recipients": [keys.recipient, *keys.extra_recipients]},
            "signing_key": keys.verify_key,
            "chunks": chunks,
            "stored_bytes": sum(int(c["bytes"]) for c in chunks),
        }
        body, signature = archive.sign_manifest(manifest, keys)
        alive = _to_each(alive, failed, lambda t: t.put_bytes(f"{where}/{archive.MANIFEST}", body))
        alive = _to_each(
            alive, failed, lambda t: t.put_bytes(f"{where}/{archive.SIGNATURE}", signature)
        )
        _enough(alive, required, failed)
        marker = json.dumps(
            {
                "backup_id": backup_id,
                "manifest_sha256": hashlib.sha256(body).hexdigest(),
                "stored_bytes": manifest["stored_bytes"],
                "plain_bytes": plain.size,
                "completed_at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        done = _to_each(alive, failed, lambda t: t.put_bytes(f"{where}/{archive.COMPLETE}", marker))
        return BackupResult(backup_id, kind, manifest, [t.name for t in done], failed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _put_chunk(target: Target, *, where: str, chunk: archive.Chunk) -> None:
    target.put_file(f"{where}/{chunk.name}", chunk.path)


def _to_each(
    targets: list[Target], failed: dict[str, str], step: Callable[[Target], object]
) -> list[Target]:
    """Run ``step`` on each target; those that fail are dropped (and named in ``failed``)."""
    kept = []
    for target in targets:
        try:
            step(target)
        except Exception as exc:
            failed[target.name] = f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            kept.append(target)
    return kept


def _enough(alive: list[Target], required: int, failed: dict[str, str]) -> None:
    if len(alive) < required:
        reasons = "; ".join(f"{name}: {why}" for name, why in failed.items())
        raise BackupRefused(
            f"the backup reached {len(alive)} target(s), {required} required ({reasons}); "
            "it is not complete anywhere"
        )


def audit_backup(
    store: Store, result: BackupResult, *, principal: Principal, pruned: int = 0
) -> None:
    """Record a backup in the installation's audit log (ids, sizes and targets only)."""
    with store.sessions.begin() as session:
        audit.record(
            session,
            principal=principal,
            action="backup.created",
            target_type="backup",
            target_ids=[result.backup_id],
            details={
                "kind": result.kind,
                "stored_bytes": result.stored_bytes,
                "targets": result.complete_on,
                "pruned": pruned,
            },
        )

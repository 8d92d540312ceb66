"""The backup format: a snapshot cut in chunks, each compressed (zstd) then encrypted (age),
and a signed manifest.

A backup is a folder on a target, ``<kind>/<backup id>/``::

    chunks/00000.zst.age ...   each: one zstd frame of up to ``chunk_mib`` of the snapshot,
                               age-encrypted (X25519) to the backup key and extra recipients
    manifest.json              what is inside (below), canonical JSON
    manifest.sig               base64 Ed25519 signature of manifest.json
    COMPLETE                   written last, on every target, once enough targets hold the rest

Chunks, not one stream, because each is hashed in the manifest (a flipped byte or a missing
piece is found and named before anything is restored), can be uploaded and retried alone, and
bounds memory: one chunk at a time, whatever the database's size. Encrypting a chunk whole
with ``pyrage.encrypt`` costs its size in memory once (8 MiB by default), the compressor and
the cipher both run in native code. Stock tools still open a backup without clientvault::

    for f in chunks/*.zst.age; do age -d -i key.txt "$f"; done | zstd -d > snapshot

(the age identity is the ``age_identity`` of the backup key file; concatenated zstd frames
decompress as one stream).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import zstandard

from clientvault.backup.errors import BackupRefused
from clientvault.backup.keys import BackupKeys
from clientvault.backup.targets import Target

FORMAT = "clientvault-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
COMPLETE = "COMPLETE"
CHUNKS = "chunks"
ZSTD_LEVEL = 3
_READ = 1 << 20


def canonical(document: dict[str, Any]) -> bytes:
    """The exact bytes of a manifest (sorted keys, no spaces): what the signature covers."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def folder(kind: str, backup_id: str) -> str:
    """A backup's folder on a target."""
    return f"{kind}/{backup_id}"


@dataclass(frozen=True)
class Chunk:
    """One encrypted chunk written to a scratch file, and what the manifest says of it."""

    name: str
    path: Path
    plain_bytes: int
    stored_bytes: int
    sha256: str

    def describe(self) -> dict[str, Any]:
        """The manifest entry of this chunk."""
        return {
            "name": self.name,
            "plain_bytes": self.plain_bytes,
            "bytes": self.stored_bytes,
            "sha256": self.sha256,
        }


@dataclass
class Plaintext:
    """Running size and SHA-256 of the snapshot as it is cut."""

    size: int = 0
    digest: Any = None

    def __post_init__(self) -> None:
        self.digest = hashlib.sha256()


def encode_chunks(
    snapshot: Path, scratch: Path, keys: BackupKeys, *, chunk_bytes: int, plain: Plaintext
) -> Iterator[Chunk]:
    """Cut ``snapshot`` into encrypted chunk files in ``scratch``, one at a time (the caller
    uploads and deletes each before asking for the next); ``plain`` gathers the snapshot's
    size and hash."""
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
    recipients = keys.recipients()
    with snapshot.open("rb") as reading:
        index = 0
        while True:
            data = reading.read(chunk_bytes)
            if not data and index > 0:
                return
            plain.size += len(data)
            plain.digest.update(data)
            sealed = pyrage.encrypt(compressor.compress(data), recipients)
            name = f"{CHUNKS}/{index:05d}.zst.age"
            path = scratch / f"chunk-{index:05d}"
            _write_private(path, sealed)
            yield Chunk(name, path, len(data), len(sealed), hashlib.sha256(sealed).hexdigest())
            index += 1
            if len(data) < chunk_bytes:
                return


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def sign_manifest(manifest: dict[str, Any], keys: BackupKeys) -> tuple[bytes, bytes]:
    """The manifest's bytes and its signature file's bytes."""
    body = canonical(manifest)
    return body, keys.sign(body).encode("ascii")


def sha256_of(path: Path) -> str:
    """A file's SHA-256, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as reading:
        while block := reading.read(_READ):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Verified:
    """A backup whose manifest and every chunk were checked, chunks in a scratch folder."""

    manifest: dict[str, Any]
    chunk_paths: list[Path]


def read_manifest(target: Target, kind: str, backup_id: str, keys: BackupKeys) -> dict[str, Any]:
    """A backup's manifest, its signature checked and its identity matched to the folder it
    is in; ``BackupRefused`` naming the file otherwise."""
    where = folder(kind, backup_id)
    body = target.get_bytes(f"{where}/{MANIFEST}")
    if body is None:
        raise BackupRefused(f"{target.name}:{where}/{MANIFEST} is missing")
    signature = target.get_bytes(f"{where}/{SIGNATURE}")
    if signature is None:
        raise BackupRefused(f"{target.name}:{where}/{SIGNATURE} is missing")
    if not keys.verifies(body, signature.decode("ascii", "replace").strip()):
        raise BackupRefused(
            f"{target.name}:{where}/{MANIFEST} does not match its signature "
            f"({SIGNATURE}): altered, or signed by another installation's backup key"
        )
    manifest: dict[str, Any] = json.loads(body)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupRefused(f"{target.name}:{where}/{MANIFEST} is not a version-1 backup")
    if manifest.get("backup_id") != backup_id or manifest.get("kind") != kind:
        raise BackupRefused(
            f"{target.name}:{where}/{MANIFEST} belongs to backup {manifest.get('backup_id')} "
            f"({manifest.get('kind')}), not to {backup_id}"
        )
    return manifest


def is_complete(target: Target, kind: str, backup_id: str) -> bool:
    """Whether the backup's completion marker is on this target."""
    return target.get_bytes(f"{folder(kind, backup_id)}/{COMPLETE}") is not None


def download_verified(
    target: Target,
    kind: str,
    backup_id: str,
    keys: BackupKeys,
    scratch: Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> Verified:
    """Fetch a complete backup's chunks into ``scratch`` and check the manifest's signature
    and every chunk's SHA-256 (and that no file is missing or added) before anything is
    restored; ``BackupRefused`` names the first file at fault."""
    where = folder(kind, backup_id)
    manifest = read_manifest(target, kind, backup_id, keys)
    marker = target.get_bytes(f"{where}/{COMPLETE}")
    if marker is None:
        raise BackupRefused(f"{target.name}:{where} is not complete ({COMPLETE} is missing)")
    if json.loads(marker).get("manifest_sha256") != hashlib.sha256(canonical(manifest)).hexdigest():
        raise BackupRefused(f"{target.name}:{where}/{COMPLETE} names another manifest")
    expected = {chunk["name"] for chunk in manifest["chunks"]}
    present = {key[len(where) + 1 :] for key in target.keys(where)}
    unexpected = sorted(present - expected - {MANIFEST, SIGNATURE, COMPLETE})
    if unexpected:
        raise BackupRefused(f"{target.name}:{where}/{unexpected[0]} is not in the manifest")
    paths = []
    for chunk in manifest["chunks"]:
        name = chunk["name"]
        path = scratch / name.replace("/", "-")
        if name not in present or not target.get_file(f"{where}/{name}", path):
            raise BackupRefused(f"{target.name}:{where}/{name} is missing")
        if path.stat().st_size != chunk["bytes"] or sha256_of(path) != chunk["sha256"]:
            raise BackupRefused(
                f"{target.name}:{where}/{name} does not match the manifest's SHA-256"
            )
        paths.append(path)
        if progress is not None:
            progress(chunk["bytes"])
    return Verified(manifest, paths)


def decode_snapshot(
    verified: Verified,
    keys: BackupKeys,
    destination: Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Decrypt and decompress verified chunks into ``destination`` (mode 0600), one chunk at
    a time, and check the snapshot's size and SHA-256 against the manifest."""
    decompressor = zstandard.ZstdDecompressor()
    digest = hashlib.sha256()
    size = 0
    descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as writing:
        for chunk, path in zip(verified.manifest["chunks"], verified.chunk_paths, strict=True):
            try:
                data = decompressor.decompress(pyrage.decrypt(path.read_bytes(), [keys.identity]))
            except (pyrage.DecryptError, zstandard.ZstdError) as exc:
                raise BackupRefused(
                    f"{chunk['name']} cannot be decrypted with this backup key"
                ) from exc
            if len(data) != chunk["plain_bytes"]:
                raise BackupRefused(
                    f"{chunk['name']} holds {len(data)} bytes, not {chunk['plain_bytes']}"
                )
            digest.update(data)
            size += len(data)
            writing.write(data)
            path.unlink()
            if progress is not None:
                progress(len(data))
        writing.flush()
        os.fsync(writing.fileno())
    snapshot = verified.manifest["snapshot"]
    if size != snapshot["bytes"] or digest.hexdigest() != snapshot["sha256"]:
        raise BackupRefused("the decrypted snapshot does not match the manifest's SHA-256")

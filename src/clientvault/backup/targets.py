"""Where backups are copied: local directories and S3-compatible object storage (boto3).

A target stores files under keys (``data/<backup id>/manifest.json``); both kinds stream
files (a local copy, boto3's multipart transfer) so memory does not grow with a backup's
size. A local write goes to a temporary name, is flushed to disk and renamed, so a file that
exists is whole. ``health`` writes, reads back and deletes a probe.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from clientvault.errors import ConfigurationError
from clientvault.settings import BackupTargetSettings, Settings

PROBE_PREFIX = "health/"


@dataclass(frozen=True)
class TargetHealth:
    """Whether a target could be written, read back and cleaned, and if not why."""

    target: str
    ok: bool
    detail: str


class Target(Protocol):
    """The operations backups, restores and pruning need of a place to keep files."""

    name: str

    def put_file(self, key: str, source: Path) -> None:
        """Store a file under ``key`` (whole or not at all)."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store small contents (a manifest, a marker) under ``key``."""

    def get_file(self, key: str, destination: Path) -> bool:
        """Copy ``key`` into ``destination``; false if there is no such key."""

    def get_bytes(self, key: str) -> bytes | None:
        """The contents of ``key`` or ``None``."""

    def children(self, prefix: str) -> list[str]:
        """The names directly under ``prefix/`` (backup ids under ``data``)."""

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix/``, with its prefix."""

    def delete_prefix(self, prefix: str) -> None:
        """Delete every key under ``prefix/``."""

    def health(self) -> TargetHealth:
        """Write, read back and delete a probe."""


class LocalTarget:
    """A directory (a second disk or a NAS mount counts as a second medium)."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ConfigurationError(f"key {key!r} leaves the target directory")
        return path

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        path = self._path(key)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def put_file(self, key: str, source: Path) -> None:
        """Copy ``source`` in, streamed (``shutil.copyfileobj``)."""
        with source.open("rb") as reading:
            self._write(key, lambda handle: shutil.copyfileobj(reading, handle, 1 << 20))

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write small contents."""
        self._write(key, lambda handle: handle.write(data))

    def get_file(self, key: str, destination: Path) -> bool:
        """Copy ``key`` out, streamed."""
        path = self._path(key)
        if not path.is_file():
            return False
        shutil.copyfile(path, destination)
        return True

    def get_bytes(self, key: str) -> bytes | None:
        """Read small contents."""
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def children(self, prefix: str) -> list[str]:
        """Sub-directory names under ``prefix``."""
        path = self._path(prefix)
        return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []

    def keys(self, prefix: str) -> list[str]:
        """Every file under ``prefix`` (temporary parts left by a crash included)."""
        path = self._path(prefix)
        if not path.is_dir():
            return []
        root = self.root.resolve()
        return sorted(str(p.relative_to(root)) for p in path.rglob("*") if p.is_file())

    def delete_prefix(self, prefix: str) -> None:
        """Remove the directory ``prefix``."""
        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def health(self) -> TargetHealth:
        """Probe the directory."""
        return _probe(self)


class S3Target:
    """A bucket of an S3-compatible object store, under a prefix; with ``object_lock_days``
    every object is written with a COMPLIANCE retention (the bucket must have object lock)."""

    def __init__(self, config: BackupTargetSettings) -> None:
        assert config.bucket is not None  # checked by the settings
        self.name = config.name
        self.bucket = config.bucket
        self.prefix = config.prefix.strip("/")
        self.lock_days = config.object_lock_days
        secret = config.secret_access_key
        self.client = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _extra(self) -> dict[str, Any]:
        if self.lock_days is None:
            return {}
        until = datetime.now(UTC) + timedelta(days=self.lock_days)
        return {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}

    def put_file(self, key: str, source: Path) -> None:
        """Upload, multipart for large files (bounded memory); an object appears whole."""
        self.client.upload_file(str(source), self.bucket, self._key(key), ExtraArgs=self._extra())

    def put_bytes(self, key: str, data: bytes) -> None:
        """Put small contents."""
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **self._extra())

    def get_file(self, key: str, destination: Path) -> bool:
        """Download, streamed."""
        try:
            self.client.download_file(self.bucket, self._key(key), str(destination))
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    def get_bytes(self, key: str) -> bytes | None:
        """Get small contents."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        body: bytes = answer["Body"].read()
        return body

    def _list(self, prefix: str, *, delimiter: bool) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket,
            Prefix=self._key(prefix).rstrip("/") + "/",
            **({"Delimiter": "/"} if delimiter else {}),
        )
        found: list[dict[str, Any]] = []
        for page in pages:
            found.extend(page.get("CommonPrefixes" if delimiter else "Contents", []))
        return found

    def children(self, prefix: str) -> list[str]:
        """The "directories" under ``prefix``."""
        return sorted(
            item["Prefix"].rstrip("/").rsplit("/", 1)[-1]
            for item in self._list(prefix, delimiter=True)
        )

    def keys(self, prefix: str) -> list[str]:
        """Every object under ``prefix``, without the target's own prefix."""
        cut = len(self._key(""))
        return sorted(item["Key"][cut:] for item in self._list(prefix, delimiter=False))

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix``, a thousand per request."""
        keys = [self._key(key) for key in self.keys(prefix)]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})

    def health(self) -> TargetHealth:
        """Probe the bucket."""
        return _probe(self)


def _missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


def _probe(target: Target) -> TargetHealth:
    folder = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    payload = os.urandom(32)
    try:
        target.put_bytes(f"{folder}/probe", payload)
        if target.get_bytes(f"{folder}/probe") != payload:
            return TargetHealth(target.name, False, "a probe written could not be read back")
        if not isinstance(target, S3Target) or target.lock_days is None:  # locked: it stays
            target.delete_prefix(folder)
    except (OSError, BotoCoreError, ClientError, ConfigurationError) as exc:
        return TargetHealth(target.name, False, f"{type(exc).__name__}: {str(exc)[:200]}")
    return TargetHealth(target.name, True, "writable and readable")


def build_target(config: BackupTargetSettings) -> Target:
    """The target a settings entry describes."""
    if config.kind == "s3":
        return S3Target(config)
    assert config.path is not None  # checked by the settings
    return LocalTarget(config.name, config.path)


def targets_for(settings: Settings, kind: str) -> list[Target]:
    """The targets of ``data`` or ``keystore`` backups (the default: a directory of the
    data dir, for a developer's machine; production lists its own)."""
    configured = settings.backup.targets if kind == "data" else settings.backup.keystore_targets
    if configured:
        return [build_target(config) for config in configured]
    folder = "backups" if kind == "data" else "keystore-backups"
    return [LocalTarget("local", settings.data_dir / folder)]


def copies_required(settings: Settings, targets: list[Target]) -> int:
    """How many targets a backup must reach to count as complete."""
    wanted = settings.backup.copies_required or len(targets)
    if wanted > len(targets):
        raise ConfigurationError(
            f"backup.copies_required is {wanted} but only {len(targets)} target(s) are set"
        )
    return wanted

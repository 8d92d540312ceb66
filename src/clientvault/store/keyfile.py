"""The key file: the key-encryption keys (KEK, by version) and the blind-index key.

It is written once by ``clientvault init`` with mode 0600 and read at start-up, or supplied in
a secret environment variable with the same JSON content. It never lives in the database, so a
copy of the database (or of a backup) alone reveals nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from clientvault.errors import ConfigurationError

KEY_BYTES = 32
FORMAT = "clientvault-keyfile/1"


@dataclass(frozen=True)
class KeyMaterial:
    """Every key-encryption key version, which one wraps new data keys, and the index key."""

    keks: dict[int, bytes]
    current_kek: int
    index_key: bytes

    def kek(self, version: int) -> bytes:
        """The KEK of a given version; a clear error if it is not in this key file."""
        try:
            return self.keks[version]
        except KeyError:
            raise ConfigurationError(
                f"key-encryption key version {version} is not in the key file"
            ) from None

    def audit_key(self) -> bytes:
        """The HMAC key of the audit chain (``security.audit``), derived from the index key.

        Why derived rather than a key of its own in the file: the index key is never rotated
        (every blind index would change) and lives only in the key file, so the chain key
        shares its protection and every existing key file (and the secret-variable form)
        gets it without a new format; the label makes it independent of the index key and of
        the other keys derived from it (tombstones, link tokens)."""
        return hmac.new(self.index_key, b"clientvault/audit-chain/v1", hashlib.sha256).digest()

    def with_new_kek(self) -> KeyMaterial:
        """A copy with a fresh KEK version that becomes the current one."""
        version = max(self.keks) + 1
        return KeyMaterial(
            keks={**self.keks, version: os.urandom(KEY_BYTES)},
            current_kek=version,
            index_key=self.index_key,
        )

    def without_kek(self, version: int) -> KeyMaterial:
        """A copy from which a no-longer-used KEK version is removed."""
        if version == self.current_kek:
            raise ConfigurationError("the current key-encryption key cannot be removed")
        return KeyMaterial(
            keks={v: k for v, k in self.keks.items() if v != version},
            current_kek=self.current_kek,
            index_key=self.index_key,
        )

    def to_json(self) -> str:
        """The key file's content."""
        return json.dumps(
            {
                "format": FORMAT,
                "current_kek": self.current_kek,
                "keks": {str(v): _b64(k) for v, k in sorted(self.keks.items())},
                "index_key": _b64(self.index_key),
            },
            indent=2,
        )


def generate() -> KeyMaterial:
    """Fresh key material for a new installation: KEK version 1 and an index key."""
    return KeyMaterial(keks={1: os.urandom(KEY_BYTES)}, current_kek=1, index_key=os.urandom(32))


def parse(text: str, *, origin: str) -> KeyMaterial:
    """Read key material from its JSON form; ``origin`` names it in error messages."""
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError("unknown format")
        keks = {int(v): base64.b64decode(k, validate=True) for v, k in data["keks"].items()}
        index_key = base64.b64decode(data["index_key"], validate=True)
        current = int(data["current_kek"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"{origin} is not a valid clientvault key file") from exc
    if current not in keks or any(len(k) != KEY_BYTES for k in keks.values()):
        raise ConfigurationError(f"{origin} is not a valid clientvault key file")
    if len(index_key) != KEY_BYTES:
        raise ConfigurationError(f"{origin} is not a valid clientvault key file")
    return KeyMaterial(keks=keks, current_kek=current, index_key=index_key)


def read(path: Path) -> KeyMaterial:
    """Load the key file, refusing a missing or group/world-readable one."""
    if not path.exists():
        raise ConfigurationError(f"key file {path} not found; run `clientvault init` first")
    if path.stat().st_mode & 0o077:
        raise ConfigurationError(f"key file {path} is readable by others; chmod 600 it")
    return parse(path.read_text(encoding="utf-8"), origin=f"key file {path}")


def write(path: Path, material: KeyMaterial, *, overwrite: bool = False) -> None:
    """Write the key file atomically with mode 0600 (created so, never chmod-ed after)."""
    if path.exists() and not overwrite:
        raise ConfigurationError(f"key file {path} exists already; refusing to overwrite it")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(material.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")

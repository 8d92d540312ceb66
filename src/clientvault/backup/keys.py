"""The backup key file: the age identity backups are encrypted to and the Ed25519 key their
manifests are signed with.

Why a file of its own (``backup.key`` in the data dir, mode 0600, or ``backup.key_file``),
not the keystore nor the repository: a backup must open after the loss of both databases,
and the keystore is itself one of the things backed up (a key kept only inside it would be
locked in its own backup); it also has a short retention on purpose. Like ``master.key``, the
file is copied once off the machine by the operator. It never goes into a backup target: the
targets hold only what it encrypts to. ``backup.extra_recipients`` adds public keys (an
operator's offline ``age-keygen`` key) so that ``age -d`` opens a backup without this file.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clientvault.errors import ConfigurationError
from clientvault.settings import Settings

KEY_FILE_VERSION = 1


@dataclass(frozen=True)
class BackupKeys:
    """The age identity (secret) and the manifest-signing key of an installation's backups."""

    identity: pyrage.x25519.Identity
    signing_seed: bytes
    extra_recipients: tuple[str, ...] = ()

    @property
    def recipient(self) -> str:
        """This identity's public key (``age1...``), what backups are encrypted to."""
        return str(self.identity.to_public())

    def recipients(self) -> list[pyrage.x25519.Recipient]:
        """Every public key a backup is encrypted to: ours and the configured extra ones."""
        names = [self.recipient, *self.extra_recipients]
        return [pyrage.x25519.Recipient.from_str(name) for name in names]

    def sign(self, document: bytes) -> str:
        """The base64 Ed25519 signature of ``document``."""
        signature = Ed25519PrivateKey.from_private_bytes(self.signing_seed).sign(document)
        return base64.b64encode(signature).decode("ascii")

    @property
    def verify_key(self) -> str:
        """The signing key's public half, base64 (raw 32 bytes), as manifests name it."""
        public = Ed25519PrivateKey.from_private_bytes(self.signing_seed).public_key()
        return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()

    def verifies(self, document: bytes, signature: str) -> bool:
        """Whether ``signature`` is this key's signature of ``document``."""
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.verify_key))
        try:
            public.verify(base64.b64decode(signature), document)
        except (InvalidSignature, ValueError):
            return False
        return True


def key_path(settings: Settings) -> Path:
    """Where the backup key file is."""
    return settings.backup.key_file or settings.data_dir / "backup.key"


def _validated_recipients(settings: Settings) -> tuple[str, ...]:
    for name in settings.backup.extra_recipients:
        try:
            pyrage.x25519.Recipient.from_str(name)
        except pyrage.RecipientError as exc:
            raise ConfigurationError(
                f"backup.extra_recipients: {name[:12]}... is not an age public key (age1...)"
            ) from exc
    return tuple(settings.backup.extra_recipients)


def load_keys(settings: Settings, *, create: bool = False) -> BackupKeys:
    """The installation's backup keys; with ``create``, a new key file (mode 0600) is
    written first if there is none (the first backup makes it)."""
    path = key_path(settings)
    if not path.exists():
        if not create:
            raise ConfigurationError(
                f"no backup key file at {path}: copy it back from where it was kept "
                "(it is never inside a backup)"
            )
        _write_new(path)
    try:
        document = json.loads(path.read_text(encoding="ascii"))
        identity = pyrage.x25519.Identity.from_str(document["age_identity"])
        seed = base64.b64decode(document["signing_seed"])
    except (OSError, ValueError, KeyError, pyrage.IdentityError) as exc:
        raise ConfigurationError(f"the backup key file {path} is unreadable or damaged") from exc
    if document.get("version") != KEY_FILE_VERSION or len(seed) != 32:
        raise ConfigurationError(f"the backup key file {path} is not a version-1 key file")
    return BackupKeys(identity, seed, _validated_recipients(settings))


def _write_new(path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    document = {
        "version": KEY_FILE_VERSION,
        "age_identity": str(identity),
        "age_recipient": str(identity.to_public()),
        "signing_seed": base64.b64encode(os.urandom(32)).decode("ascii"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two first backups at once cannot overwrite each other's key.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())

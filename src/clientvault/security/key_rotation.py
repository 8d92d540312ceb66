"""Rotating the key-encryption key: a new KEK version wraps every customer data key, and the
rotation is audited. Sealed data is untouched (only the data keys are re-wrapped)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store import keyfile
from clientvault.store.context import Store


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: the new current KEK version and how many data keys it wraps."""

    kek_version: int
    data_keys: int


def rotate_kek(
    store: Store,
    key_file: Path,
    *,
    by: Principal,
    progress: Callable[[int], None] | None = None,
) -> Rotation:
    """Add a new KEK version to the key file, re-wrap every data key under it (one
    transaction), then remove the old versions from the key file and audit the rotation.

    The key file holds both versions while the data keys are re-wrapped, so a rotation cut
    short leaves every data key readable."""
    rotated = store.keystore.material.with_new_kek()
    keyfile.write(key_file, rotated, overwrite=True)
    count = store.keystore.rewrap_all(rotated, progress=progress)
    for version in list(rotated.keks):
        if version != rotated.current_kek:
            rotated = rotated.without_kek(version)
    keyfile.write(key_file, rotated, overwrite=True)
    with store.sessions.begin() as session:
        audit.record(
            session,
            principal=by,
            action="keys.rotated",
            details={"kek_version": rotated.current_kek, "data_keys": count},
        )
    return Rotation(kek_version=rotated.current_kek, data_keys=count)

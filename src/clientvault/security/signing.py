"""The installation's Ed25519 signing key: it signs erasure certificates and audit checkpoints.

Its 32-byte seed is kept in the keystore like a data key (wrapped by the key-encryption key,
under a reserved id that no customer can have), created on first use, so it never sits in the
repository or in the data database. The public key is published (API, CLI) for anyone to
verify a certificate offline.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.exc import IntegrityError

from clientvault.store.context import Store

#: The keystore id of the signing key's seed (a name-based UUID, never a customer's v7 id).
SIGNING_KEY_ID = uuid.uuid5(uuid.NAMESPACE_URL, "urn:clientvault:erasure-certificate-signing-key")


def canonical_json(document: dict[str, Any]) -> bytes:
    """The bytes a signature covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _private_key(store: Store) -> Ed25519PrivateKey:
    keys = store.keystore.keys_for([SIGNING_KEY_ID])
    if SIGNING_KEY_ID not in keys:
        try:
            keys = store.keystore.create_keys([SIGNING_KEY_ID])
        except IntegrityError:  # created meanwhile by another process
            keys = store.keystore.keys_for([SIGNING_KEY_ID])
    return Ed25519PrivateKey.from_private_bytes(keys[SIGNING_KEY_ID].key)


def sign(store: Store, document: dict[str, Any]) -> bytes:
    """The Ed25519 signature of a document's canonical JSON."""
    return _private_key(store).sign(canonical_json(document))


def public_key_pem(store: Store) -> str:
    """The verification key, as a PEM SubjectPublicKeyInfo (what gets published)."""
    public = _private_key(store).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def verify(document: dict[str, Any], signature: bytes | str, public_pem: str) -> bool:
    """Whether ``signature`` (raw or base64) is the signing key's signature of ``document``."""
    raw = base64.b64decode(signature) if isinstance(signature, str) else signature
    public = serialization.load_pem_public_key(public_pem.encode("ascii"))
    if not isinstance(public, Ed25519PublicKey):
        return False
    try:
        public.verify(raw, canonical_json(document))
    except InvalidSignature:
        return False
    return True

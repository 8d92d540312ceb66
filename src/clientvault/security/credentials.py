"""High-entropy secrets — tracking write keys, API tokens, staff session tokens: how they are
drawn and the one form in which they are stored and looked up.

Each carries 256 random bits, so its stored form is a plain SHA-256 of it: there is nothing to
guess, a slow or salted hash (right for passwords, see ``passwords``) would protect nothing, and
an unsalted digest lets a presented secret be found with one indexed equality lookup. The
lookup by digest is the check: a secret is valid when a row holds its digest.
"""

from __future__ import annotations

import hashlib
import secrets

#: Random bytes per secret (256 bits), before URL-safe base64.
SECRET_BYTES = 32


def new_secret(prefix: str = "") -> str:
    """A fresh secret: ``prefix`` (which says what kind of secret it is) and 256 random bits,
    URL-safe base64."""
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """The stored form of a secret (hex SHA-256 of its UTF-8 bytes), what its row is found by.

    Stored write keys, API tokens and sessions were hashed exactly so before this module
    existed; changing the digest would lock every one of them out."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()

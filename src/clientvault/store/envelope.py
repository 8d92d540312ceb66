"""The sealed-field format: AES-256-GCM with the key id and version in a header.

Layout of a sealed value (all integers big-endian)::

    0      1                 17          21           33
    | v=1  | data key id (16) | version (4) | nonce (12) | ciphertext + 16-byte tag |

The associated data (AAD) is the header plus the customer id and the column name, so a sealed
value copied to another customer's row or to another column fails authentication instead of
decrypting.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clientvault.errors import ClientVaultError

FORMAT_VERSION = 1
_HEADER = struct.Struct(">B16sI12s")
HEADER_BYTES = _HEADER.size
NONCE_BYTES = 12


class UnreadableField(ClientVaultError):
    """A sealed value cannot be opened: tampered, moved, or its data key destroyed."""

    default_code = "unreadable_field"


@dataclass(frozen=True)
class Header:
    """Which data key (id and version) sealed a value."""

    key_id: uuid.UUID
    key_version: int
    nonce: bytes


def read_header(sealed: bytes) -> Header:
    """Parse the header of a sealed value without decrypting it."""
    if len(sealed) < HEADER_BYTES + 16:
        raise UnreadableField("sealed value is truncated")
    version, key_id, key_version, nonce = _HEADER.unpack_from(sealed)
    if version != FORMAT_VERSION:
        raise UnreadableField(f"unknown sealed-value format {version}")
    return Header(key_id=uuid.UUID(bytes=key_id), key_version=key_version, nonce=nonce)


def _aad(header: bytes, customer_id: uuid.UUID, column: str) -> bytes:
    return header + b"|" + customer_id.bytes + b"|" + column.encode("utf-8")


def seal(
    *,
    key: bytes,
    key_id: uuid.UUID,
    key_version: int,
    customer_id: uuid.UUID,
    column: str,
    plaintext: str,
) -> bytes:
    """Encrypt one field value for one customer's column (fresh random nonce each time)."""
    return seal_with(
        AESGCM(key),
        key_id=key_id,
        key_version=key_version,
        customer_id=customer_id,
        column=column,
        plaintext=plaintext,
    )


def seal_with(
    cipher: AESGCM,
    *,
    key_id: uuid.UUID,
    key_version: int,
    customer_id: uuid.UUID,
    column: str,
    plaintext: str,
) -> bytes:
    """``seal`` with the data key's cipher already made: a profile's fields are sealed under
    one key, which is set up once rather than once a field (imports seal ~6 fields a row)."""
    header = _HEADER.pack(FORMAT_VERSION, key_id.bytes, key_version, os.urandom(NONCE_BYTES))
    body = cipher.encrypt(
        header[-NONCE_BYTES:], plaintext.encode("utf-8"), _aad(header, customer_id, column)
    )
    return header + body


def open_sealed(*, key: bytes, sealed: bytes, customer_id: uuid.UUID, column: str) -> str:
    """Decrypt a sealed value, verifying it belongs to this customer and column."""
    header = read_header(sealed)
    raw_header = sealed[:HEADER_BYTES]
    try:
        plaintext = AESGCM(key).decrypt(
            header.nonce, sealed[HEADER_BYTES:], _aad(raw_header, customer_id, column)
        )
    except InvalidTag:
        raise UnreadableField(
            f"sealed {column} failed authentication (tampered or not this customer's)"
        ) from None
    return plaintext.decode("utf-8")

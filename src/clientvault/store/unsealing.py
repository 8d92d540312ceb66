"""Opening sealed fields. Only ``clientvault.security.pii`` may import this module (an
import-linter contract says so): that is where the permission check and the audit entry are.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from clientvault.errors import Erased
from clientvault.store.envelope import UnreadableField, open_sealed, read_header
from clientvault.store.keystore import ERASED_MESSAGE, KeyReader, Keystore

SealedRow = Mapping[str, bytes | None]


def open_rows(
    keystore: Keystore,
    rows: Mapping[uuid.UUID, SealedRow],
    *,
    reader: KeyReader | None = None,
) -> dict[uuid.UUID, dict[str, str | None]]:
    """Decrypt the sealed fields of several customers, fetching their keys in batches.

    ``reader``, from ``keystore.reading()``, fetches the keys on the caller's keystore
    connection (one for several calls) instead of one of their own. A customer whose data
    key was destroyed raises ``Erased``: their data is gone.
    """
    keys = (reader or keystore.keys_for)(rows)
    opened: dict[uuid.UUID, dict[str, str | None]] = {}
    for customer_id, sealed in rows.items():
        key = keys.get(customer_id)
        if key is None:
            raise Erased(ERASED_MESSAGE.format(customer_id=customer_id))
        values: dict[str, str | None] = {}
        for column, blob in sealed.items():
            if blob is None:
                values[column] = None
                continue
            header = read_header(blob)
            if header.key_id != key.key_id or header.key_version != key.key_version:
                raise UnreadableField(f"sealed {column} was not sealed with this customer's key")
            values[column] = open_sealed(
                key=key.key, sealed=blob, customer_id=customer_id, column=column
            )
        opened[customer_id] = values
    return opened

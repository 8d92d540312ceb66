"""Erasure tombstones: keyed hashes of an erased person's blind indexes.

A tombstone is ``HMAC(tombstone key, blind index)``, the tombstone key derived from the
installation's index key: it is not the blind index (a scan of the database for the person's
blind-index values finds nothing) yet ingestion can recognise a late call carrying the same
e-mail, phone, user id or anonymous id, suppress it and count it (``suppress_erased``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from clientvault.privacy.models import ErasureTombstone
from clientvault.store.base import table_of, utcnow
from clientvault.store.context import Store

T = TypeVar("T")
_LABEL = b"clientvault-erasure-tombstone"
_CHUNK = 900


def tombstone_key(store: Store) -> bytes:
    """The key of tombstone digests, derived from (never equal to) the index key."""
    return hmac.new(store.keystore.material.index_key, _LABEL, hashlib.sha256).digest()


def digests(store: Store, indexes: Iterable[bytes]) -> set[bytes]:
    """The tombstone digests of blind indexes."""
    key = tombstone_key(store)
    return {hmac.digest(key, index, "sha256") for index in indexes}


def matching(session: Session, candidates: Sequence[bytes]) -> set[bytes]:
    """Which of these digests are tombstones."""
    # Core on the session's connection: ingestion asks this for every batch.
    connection, column = session.connection(), table_of(ErasureTombstone).c.digest
    found: set[bytes] = set()
    for start in range(0, len(candidates), _CHUNK):
        chunk = list(candidates[start : start + _CHUNK])
        found.update(connection.scalars(select(column).where(column.in_(chunk))))
    return found


def suppress_erased(
    session: Session,
    store: Store,
    items: list[T],
    identifiers: Callable[[T], Iterable[bytes]],
) -> list[T]:
    """The items none of whose blind indexes belongs to an erased person; each suppressed
    item is counted on the tombstones it hit (in the caller's transaction). One query per
    batch, whatever its size."""
    key = tombstone_key(store)
    # hmac.digest: the one-shot C path, a fraction of hmac.new's cost on every ingested call.
    per_item = [
        {hmac.digest(key, index, "sha256") for index in identifiers(item)} for item in items
    ]
    wanted = sorted({digest for found in per_item for digest in found})
    if not wanted:
        return items
    erased = matching(session, wanted)
    if not erased:
        return items
    kept: list[T] = []
    hits: dict[bytes, int] = {}
    for item, found in zip(items, per_item, strict=True):
        hit = found & erased
        if not hit:
            kept.append(item)
        for digest in hit:
            hits[digest] = hits.get(digest, 0) + 1
    table = table_of(ErasureTombstone)
    session.execute(
        update(table)
        .where(table.c.digest == bindparam("hit"))
        .values(suppressed=table.c.suppressed + bindparam("count"), last_suppressed_at=utcnow()),
        [{"hit": digest, "count": count} for digest, count in hits.items()],
    )
    return kept

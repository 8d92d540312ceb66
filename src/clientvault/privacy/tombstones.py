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

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from clientvault.privacy.models import ErasureTombstone
from clientvault.store.base import table_of, utcnow
from clientvault.store.context import Store
from clientvault.store.driver_sql import rows_in
from clientvault.store.sealing import keyed_digest

T = TypeVar("T")
_LABEL = b"clientvault-erasure-tombstone"


def tombstone_key(store: Store) -> bytes:
    """The key of tombstone digests, derived from (never equal to) the index key."""
    return hmac.new(store.keystore.material.index_key, _LABEL, hashlib.sha256).digest()


def digests(store: Store, indexes: Iterable[bytes]) -> set[bytes]:
    """The tombstone digests of blind indexes."""
    return digester(store)(indexes)


def digester(store: Store) -> Callable[[Iterable[bytes]], set[bytes]]:
    """What computes tombstone digests, the key derived once (ingestion digests every call's
    identifiers). Each blind index is digested once per digester: ingestion makes one per
    call, whose events mostly share their user (an SDK batches one device's events)."""
    key = tombstone_key(store)
    known: dict[bytes, bytes] = {}

    def digest(index: bytes) -> bytes:
        found = known.get(index)
        if found is None:
            found = known[index] = keyed_digest(key, index)
        return found

    def digest_all(indexes: Iterable[bytes]) -> set[bytes]:
        return {digest(index) for index in indexes}

    return digest_all


def matching(session: Session, candidates: Sequence[bytes]) -> set[bytes]:
    """Which of these digests are tombstones."""
    # At the driver: ingestion asks this for every batch (store.driver_sql says why).
    sql = "SELECT digest FROM erasure_tombstones WHERE digest {in}"
    return {digest for (digest,) in rows_in(session.connection(), sql, candidates)}


def suppress_erased(
    session: Session, items: list[T], digests_of: Callable[[T], set[bytes]]
) -> list[T]:
    """The items none of whose tombstone digests (``digests`` of their blind indexes) is an
    erased person's; each suppressed item is counted on the tombstones it hit (in the
    caller's transaction). One query per batch, whatever its size."""
    wanted = sorted({digest for item in items for digest in digests_of(item)})
    if not wanted:
        return items
    erased = matching(session, wanted)
    if not erased:
        return items
    kept: list[T] = []
    hits: dict[bytes, int] = {}
    for item in items:
        hit = digests_of(item) & erased
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

"""Erasure (Art. 17 GDPR, CCPA deletion): one call reaches every table and every backup.

``erase_customer`` takes a person — a profile and every profile merged into it — and:

1. destroys their data keys first (crypto-shredding): from that moment every copy of their
   sealed fields, live or in any backup, is unreadable, even if a later step failed (the call
   can simply be run again);
2. asks every registered personal-data holder to delete or anonymise its rows (``holders``);
3. keeps tombstones — keyed hashes of their blind indexes, never the indexes — so late events
   are suppressed (``tombstones.suppress_erased``), and their ids in ``erased_customers``;
4. signs a certificate (Ed25519, ``signing``) saying what was done, and audits the erasure;
5. once the caller commits, empties SQLite's write-ahead logs (``scrub_journals``), which
   still hold the page images of the erased rows (the files themselves use secure_delete).

After a restore, ``reapply_tombstones`` erases again whatever the backup brought back, from
the live register or from a ``tombstone_snapshot`` taken before restoring.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound, PermissionDenied
from clientvault.identity.models import Customer
from clientvault.privacy import tombstones as tombstone_digests
from clientvault.privacy.holders.registry import (
    ErasureMode,
    HolderContext,
    HolderErasure,
    check_coverage,
    registered_holders,
)
from clientvault.privacy.models import ErasedCustomer, Erasure, ErasureTombstone
from clientvault.security import audit, signing
from clientvault.security.principal import Principal
from clientvault.store.base import new_id, utcnow
from clientvault.store.context import Store
from clientvault.store.wal_checkpoints import truncate_wal

#: The permission erasing (and exporting) a customer needs.
PRIVACY_MANAGE = "privacy:manage"
CERTIFICATE_VERSION = 1


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure did, with its signed certificate (ids and counts, no personal data)."""

    erasure_id: uuid.UUID
    customer_ids: list[uuid.UUID]
    holders: dict[str, HolderErasure]
    keys_destroyed: int
    tombstones: int
    certificate: dict[str, Any]
    signature: str  # base64 Ed25519 signature of the certificate's canonical JSON


@dataclass
class ReapplyReport:
    """What re-applying the erasure register after a restore found and erased again."""

    customers_erased: int = 0
    keys_destroyed: int = 0
    register_rows_restored: int = 0
    holders: dict[str, int] = field(default_factory=dict)


def require_privacy_principal(principal: Principal, reason: str) -> None:
    """Erasure and export need ``privacy:manage`` and a stated reason (kept in the audit)."""
    if not principal.can(PRIVACY_MANAGE):
        raise PermissionDenied("this principal may not manage data-subject rights")
    if not reason.strip() or len(reason) > 200:
        raise InvalidInput(
            "a reason of 1 to 200 characters is required", details={"field": "reason"}
        )


def person_ids(session: Session, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """The profiles of one person: the merge root of ``customer_id`` and every profile merged
    into it (root first). ``NotFound`` if the customer does not exist."""
    found = session.execute(
        select(Customer.id, Customer.merged_into_id).where(Customer.id == customer_id)
    ).first()
    if found is None:
        raise NotFound("no such customer")
    root = found.merged_into_id or found.id
    absorbed = session.scalars(
        select(Customer.id).where(Customer.merged_into_id == root).order_by(Customer.id)
    )
    return [root, *absorbed]


def _erase_everywhere(ctx: HolderContext, ids: Sequence[uuid.UUID]) -> dict[str, HolderErasure]:
    """Every registered holder's erase, in order, on ``ids`` (keys are destroyed apart)."""
    return {holder.name: holder.erase(ctx, ids) for holder in registered_holders()}


def _blind_indexes(ctx: HolderContext, ids: Sequence[uuid.UUID]) -> set[bytes]:
    found: set[bytes] = set()
    for holder in registered_holders():
        if holder.identifiers is not None:
            found.update(holder.identifiers(ctx, ids))
    return found


def _destroy_keys(store: Store, ids: Sequence[uuid.UUID]) -> int:
    return sum(store.keystore.destroy(customer_id) for customer_id in ids)


def scrub_journals(store: Store) -> bool:
    """On SQLite, checkpoint and truncate the write-ahead logs of the data and the keystore.

    ``secure_delete`` zeroes erased rows in the database files, but the WAL still holds the
    page images written when those rows were created, until it is checkpointed and truncated.
    Returns whether both logs could be emptied (a long-running reader can prevent it; the
    next erasure or checkpoint finishes the job). A no-op on PostgreSQL.
    """
    emptied = True
    for engine in (store.engine, store.keystore.engine):
        if engine.dialect.name == "sqlite":
            emptied = truncate_wal(engine) and emptied
    return emptied


def _scrub_journals_after_commit(session: Session, store: Store) -> None:
    def scrub(_session: Session) -> None:
        scrub_journals(store)

    event.listen(session, "after_commit", scrub, once=True)


def _insert_missing_tombstones(session: Session, erasure_id: uuid.UUID, digests: set[bytes]) -> int:
    known = tombstone_digests.matching(session, sorted(digests))
    fresh = sorted(digests - known)
    if fresh:
        session.execute(
            insert(ErasureTombstone),
            [{"digest": d, "erasure_id": erasure_id, "suppressed": 0} for d in fresh],
        )
    return len(fresh)


def erase_customer(
    session: Session,
    store: Store,
    *,
    customer_id: uuid.UUID,
    principal: Principal,
    reason: str,
    mode: ErasureMode = "anonymise",
    tombstones: bool = True,
) -> ErasureReport:
    """Erase a person everywhere, in the caller's transaction (keys are destroyed at once).

    ``mode`` says what holders that can keep aggregates do with events and orders: delete
    them, or anonymise them (no link to the person is left either way). Without
    ``tombstones`` (retention of inactive customers) later data about them is not suppressed
    (they may come back as new customers). Raises ``NotFound``
    for an unknown (or already erased) customer, ``PermissionDenied`` without
    ``privacy:manage``, ``ConfigurationError`` when a table naming customers has no holder.
    """
    require_privacy_principal(principal, reason)
    check_coverage()
    ids = person_ids(session, customer_id)
    ctx = HolderContext(session=session, store=store, principal=principal, reason=reason, mode=mode)
    _scrub_journals_after_commit(session, store)
    indexes = _blind_indexes(ctx, ids) if tombstones else set()
    keys_destroyed = _destroy_keys(store, ids)
    done = _erase_everywhere(ctx, ids)
    erasure_id = new_id()
    erased_at = utcnow()
    certificate: dict[str, Any] = {
        "type": "clientvault.erasure-certificate",
        "version": CERTIFICATE_VERSION,
        "erasure_id": str(erasure_id),
        "customer_ids": [str(c) for c in ids],
        "erased_at": erased_at.isoformat(),
        "mode": mode,
        "holders": {
            name: {"action": result.action, "rows": result.rows} for name, result in done.items()
        },
        "data_keys_destroyed": keys_destroyed,
        "tombstones": len(indexes),
    }
    signature = signing.sign(store, certificate)
    session.add(
        Erasure(id=erasure_id, erased_at=erased_at, certificate=certificate, signature=signature)
    )
    session.flush()
    session.execute(
        insert(ErasedCustomer), [{"customer_id": c, "erasure_id": erasure_id} for c in ids]
    )
    if tombstones:
        digests = tombstone_digests.digests(store, indexes)
        _insert_missing_tombstones(session, erasure_id, digests)
    audit.record(
        session,
        principal=principal,
        action="privacy.erasure",
        target_type="customer",
        target_ids=[str(c) for c in ids],
        reason=reason,
        details={"erasure_id": str(erasure_id), "mode": mode},
    )
    return ErasureReport(
        erasure_id=erasure_id,
        customer_ids=ids,
        holders=done,
        keys_destroyed=keys_destroyed,
        tombstones=len(indexes),
        certificate=certificate,
        signature=base64.b64encode(signature).decode("ascii"),
    )


def get_certificate(session: Session, *, erasure_id: uuid.UUID) -> tuple[dict[str, Any], str]:
    """A stored erasure certificate and its base64 signature."""
    row = session.get(Erasure, erasure_id)
    if row is None:
        raise NotFound("no such erasure")
    return row.certificate, base64.b64encode(row.signature).decode("ascii")


def tombstone_snapshot(session: Session) -> dict[str, Any]:
    """The whole erasure register as JSON (no personal data: ids, keyed hashes, certificates),
    to keep outside a backup being restored and give back to ``reapply_tombstones``."""
    return {
        "erasures": [
            {
                "id": str(row.id),
                "erased_at": row.erased_at.isoformat(),
                "certificate": row.certificate,
                "signature": base64.b64encode(row.signature).decode("ascii"),
            }
            for row in session.scalars(select(Erasure).order_by(Erasure.erased_at))
        ],
        "customers": [
            {"customer_id": str(c), "erasure_id": str(e)}
            for c, e in session.execute(
                select(ErasedCustomer.customer_id, ErasedCustomer.erasure_id)
            )
        ],
        "tombstones": [
            {"digest": d.hex(), "erasure_id": str(e)}
            for d, e in session.execute(
                select(ErasureTombstone.digest, ErasureTombstone.erasure_id)
            )
        ],
    }


def _restore_register(session: Session, snapshot: dict[str, Any]) -> int:
    restored = 0
    known = set(session.scalars(select(Erasure.id)))
    for item in snapshot.get("erasures", []):
        erasure_id = uuid.UUID(item["id"])
        if erasure_id not in known:
            session.add(
                Erasure(
                    id=erasure_id,
                    erased_at=datetime.fromisoformat(item["erased_at"]),
                    certificate=item["certificate"],
                    signature=base64.b64decode(item["signature"]),
                )
            )
            restored += 1
    session.flush()
    known_customers = set(session.scalars(select(ErasedCustomer.customer_id)))
    missing = [
        {"customer_id": uuid.UUID(i["customer_id"]), "erasure_id": uuid.UUID(i["erasure_id"])}
        for i in snapshot.get("customers", [])
        if uuid.UUID(i["customer_id"]) not in known_customers
    ]
    if missing:
        session.execute(insert(ErasedCustomer), missing)
    by_erasure: dict[uuid.UUID, set[bytes]] = {}
    for item in snapshot.get("tombstones", []):
        by_erasure.setdefault(uuid.UUID(item["erasure_id"]), set()).add(
            bytes.fromhex(item["digest"])
        )
    added = sum(_insert_missing_tombstones(session, e, d) for e, d in by_erasure.items())
    return restored + len(missing) + added


def reapply_tombstones(
    session: Session,
    store: Store,
    *,
    principal: Principal,
    reason: str,
    snapshot: dict[str, Any] | None = None,
    mode: ErasureMode = "anonymise",
) -> ReapplyReport:
    """Erase again every erased customer a restore brought back (and destroy any data key of
    theirs a keystore restore brought back), in the caller's transaction.

    With ``snapshot`` (from ``tombstone_snapshot`` before the restore), register rows missing
    from the restored database are put back first, so erasures newer than the backup count.
    """
    require_privacy_principal(principal, reason)
    check_coverage()
    _scrub_journals_after_commit(session, store)
    report = ReapplyReport()
    if snapshot is not None:
        report.register_rows_restored = _restore_register(session, snapshot)
    erased = list(session.scalars(select(ErasedCustomer.customer_id)))
    report.keys_destroyed = _destroy_keys(store, list(store.keystore.keys_for(erased)))
    back = list(
        session.scalars(
            select(Customer.id).where(Customer.id.in_(select(ErasedCustomer.customer_id)))
        )
    )
    if not back:
        return report
    ctx = HolderContext(session=session, store=store, principal=principal, reason=reason, mode=mode)
    for name, result in _erase_everywhere(ctx, back).items():
        report.holders[name] = result.rows
    report.customers_erased = len(back)
    audit.record(
        session,
        principal=principal,
        action="privacy.erasure.reapplied",
        target_type="customer",
        target_ids=[str(c) for c in back],
        reason=reason,
    )
    return report

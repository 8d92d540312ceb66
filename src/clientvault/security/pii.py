"""The one path through which decrypted personal data leaves the store.

Every caller names the acting principal and why; the permission is checked here and every
reveal is written to the audit log in the caller's transaction, so a read that is not audited
cannot commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, PermissionDenied
from clientvault.security import audit
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.keystore import Keystore
from clientvault.store.unsealing import SealedRow, open_rows

#: Decrypts the sealed fields of several customers (inside ``revealing``).
Opener = Callable[[Mapping[uuid.UUID, SealedRow]], dict[uuid.UUID, dict[str, str | None]]]


def reveal(
    session: Session,
    keystore: Keystore,
    *,
    principal: Principal,
    subject_type: str,
    rows: Mapping[uuid.UUID, SealedRow],
    reason: str,
) -> dict[uuid.UUID, dict[str, str | None]]:
    """Decrypt sealed fields of one or more customers for ``principal``, audited per customer.

    ``rows`` maps each customer id to the sealed columns the caller wants opened; the audit
    entry records which columns, never their values.
    """
    with revealing(
        session, keystore, principal=principal, subject_type=subject_type, reason=reason
    ) as opener:
        return opener(rows)


@contextmanager
def revealing(
    session: Session,
    keystore: Keystore,
    *,
    principal: Principal,
    subject_type: str,
    reason: str,
) -> Iterator[Opener]:
    """``reveal`` for a job that decrypts in several steps (a profile, then the profiles it
    leads to): the opener it yields decrypts like ``reveal`` (the block's steps share one
    keystore connection), and every customer opened gets its audit entry when the block ends
    — also when it raises — in one append (one chain-head read) in the caller's transaction,
    so the reads still cannot commit unaudited.
    """
    if not reason.strip():
        raise InvalidInput("a reason is required to reveal personal data")
    if not principal.can(PII_REVEAL):
        raise PermissionDenied("this principal may not see decrypted personal data")
    fields: dict[uuid.UUID, set[str]] = {}
    try:
        with keystore.reading() as read_keys:

            def opener(
                rows: Mapping[uuid.UUID, SealedRow],
            ) -> dict[uuid.UUID, dict[str, str | None]]:
                opened = open_rows(keystore, rows, reader=read_keys)
                for customer_id, sealed in rows.items():
                    fields.setdefault(customer_id, set()).update(sealed)
                return opened

            yield opener
    finally:
        _audit(session, principal, subject_type, reason, fields)


def _audit(
    session: Session,
    principal: Principal,
    subject_type: str,
    reason: str,
    fields: Mapping[uuid.UUID, set[str]],
) -> None:
    """One entry per customer, written in one append per set of fields."""
    by_fields: dict[tuple[str, ...], list[str]] = {}
    for customer_id, opened in fields.items():
        by_fields.setdefault(tuple(sorted(opened)), []).append(str(customer_id))
    for names, customer_ids in by_fields.items():
        audit.record(
            session,
            principal=principal,
            action="pii.reveal",
            target_type=subject_type,
            target_ids=customer_ids,
            reason=reason,
            details={"fields": list(names)},
        )

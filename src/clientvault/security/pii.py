"""The one path through which decrypted personal data leaves the store.

Every caller names the acting principal and why; the permission is checked here and every
reveal is written to the audit log in the caller's transaction, so a read that is not audited
cannot commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, PermissionDenied
from clientvault.security import audit
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.keystore import Keystore
from clientvault.store.unsealing import SealedRow, open_rows


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
    if not reason.strip():
        raise InvalidInput("a reason is required to reveal personal data")
    if not principal.can(PII_REVEAL):
        raise PermissionDenied("this principal may not see decrypted personal data")
    opened = open_rows(keystore, rows)
    # One entry per customer, written in one append per set of fields (one chain-head read).
    by_fields: dict[tuple[str, ...], list[str]] = {}
    for customer_id, sealed in rows.items():
        by_fields.setdefault(tuple(sorted(sealed)), []).append(str(customer_id))
    for fields, customer_ids in by_fields.items():
        audit.record(
            session,
            principal=principal,
            action="pii.reveal",
            target_type=subject_type,
            target_ids=customer_ids,
            reason=reason,
            details={"fields": list(fields)},
        )
    return opened

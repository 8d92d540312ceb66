"""Consent statistics per purpose for the DPO: how many customers currently agree, and how
many withdrew. Counted in SQL over each customer's newest ledger row per purpose."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.privacy.models import ConsentRecord
from clientvault.privacy.purposes import list_purposes


@dataclass(frozen=True)
class PurposeStats:
    """Current decisions about one purpose."""

    code: str
    title: str
    legal_basis: str
    granted: int
    withdrawn: int

    @property
    def share_granted(self) -> float | None:
        """Granted among those who decided (None before anyone did)."""
        decided = self.granted + self.withdrawn
        return self.granted / decided if decided else None


def consent_stats(session: Session) -> list[PurposeStats]:
    """Every registered purpose with its counts of current grants and withdrawals."""
    newest = (
        select(func.max(ConsentRecord.id).label("id"))
        .group_by(ConsentRecord.customer_id, ConsentRecord.purpose)
        .subquery()
    )
    rows = session.execute(
        select(ConsentRecord.purpose, ConsentRecord.decision, func.count())
        .join(newest, newest.c.id == ConsentRecord.id)
        .group_by(ConsentRecord.purpose, ConsentRecord.decision)
    )
    counts: dict[tuple[str, str], int] = {(p, d): int(n) for p, d, n in rows}
    return [
        PurposeStats(
            code=p.code,
            title=p.title,
            legal_basis=p.legal_basis,
            granted=counts.get((p.code, "granted"), 0),
            withdrawn=counts.get((p.code, "withdrawn"), 0),
        )
        for p in list_purposes(session)
    ]

"""What a demo run made: counts per kind of data, and the planted duplicates' ground truth."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class DuplicatePair:
    """A planted duplicate profile, the profile it duplicates, and what was changed (ids and
    change names only: the pair can be shown and stored without exposing anyone)."""

    customer_id: uuid.UUID
    duplicate_of_customer_id: uuid.UUID
    kind_of_change: str


@dataclass
class DemoSummary:
    """Counts of a demo run (``describe()`` says them in a few lines)."""

    seed: int
    customers: int = 0
    products: int = 0
    events: int = 0
    orders: int = 0
    order_items: int = 0
    refunded_orders: int = 0
    abandoned_carts: int = 0
    support_tickets: int = 0
    consent_grants: int = 0
    consent_withdrawals: int = 0
    seconds: float = 0.0
    duplicates: list[DuplicatePair] = field(default_factory=list)
    truth_path: Path | None = None
    #: Events per name (``identify`` for identify calls).
    events_by_name: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """A short human account of what was generated."""
        lines = [
            f"Generated {self.customers:,} customers (seed {self.seed}) in {self.seconds:.1f} s, "
            f"of which {len(self.duplicates):,} planted duplicates.",
            f"{self.events:,} events, {self.orders:,} orders ({self.order_items:,} lines, "
            f"{self.refunded_orders:,} refunded), {self.abandoned_carts:,} abandoned carts, "
            f"{self.support_tickets:,} support tickets.",
            f"{self.consent_grants:,} consent grants and {self.consent_withdrawals:,} "
            f"withdrawals; {self.products:,} products in the catalogue.",
        ]
        if self.truth_path is not None:
            lines.append(f"Duplicate ground truth: {self.truth_path}")
        return "\n".join(lines)

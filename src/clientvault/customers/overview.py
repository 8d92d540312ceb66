"""What the installation holds, at a glance: the console's Overview counts (no personal data)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.ingest.models import Event
from clientvault.store.base import Base


@dataclass(frozen=True)
class RecordCounts:
    """How many customer profiles, events and orders the database holds."""

    customers: int
    events: int
    orders: int

    @property
    def empty(self) -> bool:
        """Whether nothing has been collected yet (the page then explains how to start)."""
        return not (self.customers or self.events or self.orders)


def count_records(session: Session) -> RecordCounts:
    """Count the main tables: three indexed ``COUNT(*)`` queries, no personal data read."""

    def count(model: type[Base]) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return RecordCounts(customers=count(Customer), events=count(Event), orders=count(Order))

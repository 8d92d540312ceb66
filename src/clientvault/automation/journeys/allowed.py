"""Whether one customer may be processed for a purpose right now, through
``privacy.audiences`` (the one way an activation gets its customers).

Journeys ask this at every entry and every send, one customer at a time, in the step's own
transaction. Building the audience's SQL expression costs far more than running it, so the
query is built once per purpose (and legal basis) with the customer as a bound parameter,
then run with each customer's id: the same filters, evaluated by the database at that moment.
"""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from clientvault.identity.models import Customer
from clientvault.privacy.audiences import CustomerQuery, audience
from clientvault.privacy.purposes import PurposeInfo, get_purpose

_CUSTOMER = "journey_customer"
_QUERIES: dict[PurposeInfo, CustomerQuery] = {}


def may_process(session: Session, purpose: str, customer_id: uuid.UUID) -> bool:
    """Whether ``customer_id`` is in the audience of ``purpose`` now (consent, objection,
    restriction, erasure, merges: every filter of ``privacy.audiences``)."""
    info = get_purpose(session, purpose)  # NotFound for an unregistered purpose
    if info not in _QUERIES:
        one = select(Customer.id).where(Customer.id == bindparam(_CUSTOMER))
        _QUERIES[info] = audience(session, purpose=purpose, customers=one)
    query = _QUERIES[info]
    return session.scalar(query, {_CUSTOMER: customer_id}) is not None

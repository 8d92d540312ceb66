"""A batch's new identity links are stored in the lookup index's order (each of its pages
visited once a batch), while the links of one value keep the order of their calls, which
decides the oldest link: the profile a shared value resolves to first."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from clientvault.identity.models import CustomerIdentity
from clientvault.ingest.tracking import ingest
from clientvault.store.context import Store
from support.identity_eval import customer_of


def test_a_batch_links_in_lookup_order_and_one_value_in_call_order(db: Store) -> None:
    run = uuid.uuid4().hex[:8]
    shared = f"family-{run}@example.org"
    messages = [
        {
            "type": "identify",
            "messageId": f"m-{run}-{n}",
            "userId": f"u-{run}-{n}",
            "traits": {"email": shared if n in (3, 7) else f"p{n}-{run}@example.org"},
        }
        for n in range(12)
    ]
    with db.sessions.begin() as session:
        assert (
            ingest(session, db, source="t", messages=messages, default_region="FR").accepted == 12
        )
    customers = [customer_of(db, "user_id", f"u-{run}-{n}") for n in range(12)]

    with db.read_sessions() as session:
        links = session.execute(
            select(
                CustomerIdentity.kind, CustomerIdentity.value_index, CustomerIdentity.customer_id
            )
            .where(CustomerIdentity.customer_id.in_(customers))
            .order_by(CustomerIdentity.id)
        ).all()
    keys = [(kind, bytes(value)) for kind, value, _ in links]
    assert len(keys) == 24
    assert keys == sorted(keys)
    shared_index = db.index("email", shared)
    holders = [customer for _, value, customer in links if bytes(value) == shared_index]
    assert holders == [customers[3], customers[7]]

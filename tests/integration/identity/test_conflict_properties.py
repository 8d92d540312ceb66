"""Whatever order CRM records arrive in, an external id is never dropped: each customer that
sent one holds it, linked or kept as a conflict, and the identity graph still resolves it to
exactly one customer."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from clientvault.identity.models import CustomerIdentity, IdentifierConflict
from clientvault.ingest.tracking import ingest
from clientvault.store.context import Store
from support.identity_eval import customer_of

_runs = itertools.count()
#: Calls as (CRM record, SSN) pairs, a few of each so that they collide often.
_calls = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2)), min_size=1, max_size=12).flatmap(
    lambda calls: st.tuples(st.just(calls), st.integers(1, len(calls)))
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=_calls)
def test_every_external_id_sent_is_held_by_its_customer(
    db: Store, plan: tuple[list[tuple[int, int]], int]
) -> None:
    calls, per_batch = plan
    run = next(_runs)  # each example its own values: the installation is shared
    messages = [
        {
            "type": "identify",
            "userId": f"crm-{run}-{record}",
            "messageId": f"m-{run}-{n}",
            "context": {"externalIds": [{"type": "ssn", "id": f"ssn-{run}-{ssn}"}]},
        }
        for n, (record, ssn) in enumerate(calls)
    ]
    counted = 0
    for start in range(0, len(messages), per_batch):
        with db.sessions.begin() as session:
            result = ingest(
                session,
                db,
                source="test",
                messages=messages[start : start + per_batch],
                default_region="FR",
            )
        assert result.accepted == len(messages[start : start + per_batch])
        counted += result.identifier_conflicts

    with db.read_sessions() as session:
        links = {
            (bytes(value), customer)
            for value, customer in session.execute(
                select(CustomerIdentity.value_index, CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == "ext:ssn"
                )
            )
        }
        kept = {
            (bytes(value), customer)
            for value, customer in session.execute(
                select(IdentifierConflict.value_index, IdentifierConflict.customer_id)
            )
        }
    for record, ssn in set(calls):
        held = (
            db.index("ext:ssn", f"ssn-{run}-{ssn}"),
            customer_of(db, "user_id", f"crm-{run}-{record}"),
        )
        assert (held in links) != (held in kept)  # linked, or else kept: never both, never lost
    for ssn in {ssn for _, ssn in calls}:
        value = db.index("ext:ssn", f"ssn-{run}-{ssn}")
        assert len([1 for linked, _ in links if linked == value]) == 1
    mine = {db.index("ext:ssn", f"ssn-{run}-{ssn}") for ssn in range(3)}
    assert counted == len([1 for value, _ in kept if value in mine])

"""Global Privacy Control on the preference centre: opening it with ``Sec-GPC: 1`` records
the subject's opt-out of sale/share; without the signal nothing changes."""

from __future__ import annotations

from clientvault.privacy import consent, notices, preferences
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.privacy import add_customer


def test_opening_the_centre_with_gpc_records_the_opt_out(db: Store, db_settings: Settings) -> None:
    policy = db_settings.privacy
    customer_id = add_customer(db, email="grace@example.com")
    with db.sessions.begin() as session:
        consent.record_decision(
            session,
            customer_id=customer_id,
            purpose="sale_share",
            decision="granted",
            policy_version="1",
            channel="web",
        )
        token = notices.preferences_link(session, db, policy=policy, customer_id=customer_id)
    with db.sessions.begin() as session:
        preferences.open_centre(session, db, policy=policy, token=token)
        assert consent.current_consents(session, customer_id=customer_id)["sale_share"].granted
    with db.sessions.begin() as session:
        preferences.open_centre(session, db, policy=policy, token=token, gpc=True)
        state = consent.current_consents(session, customer_id=customer_id)["sale_share"]
    assert not state.granted

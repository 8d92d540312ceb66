"""Scheduled privacy jobs the worker runs: the data-subject requests' deadline check."""

from __future__ import annotations

from clientvault.privacy import requests
from clientvault.settings import PrivacySettings
from clientvault.store.context import Store


def check_request_deadlines(store: Store, policy: PrivacySettings) -> int:
    """Raise "due soon" and "overdue" alerts for open requests; returns how many are new."""
    with store.sessions.begin() as session:
        return requests.check_deadlines(
            session, today=requests.today_utc(), due_soon_days=policy.due_soon_days
        )

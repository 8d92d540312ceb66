"""Scheduled privacy jobs the worker runs: the data-subject requests' deadline check, and
the clean-up of expired signed links."""

from __future__ import annotations

from datetime import timedelta

from clientvault.privacy import links
from clientvault.privacy.requests import lifecycle
from clientvault.settings import PrivacySettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

#: Expired links are deleted after this (they are refused from the moment they expire).
EXPIRED_LINKS_KEPT = timedelta(days=1)


def check_request_deadlines(store: Store, policy: PrivacySettings) -> int:
    """Raise "due soon" and "overdue" alerts for open requests (returns how many are new)
    and delete long-expired links."""
    with store.sessions.begin() as session:
        links.purge_expired(session, before=utcnow() - EXPIRED_LINKS_KEPT)
        return lifecycle.check_deadlines(
            session, today=lifecycle.today_utc(), due_soon_days=policy.due_soon_days
        )

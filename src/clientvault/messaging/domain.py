"""Messaging's description for ``clientvault.domains``: the outbox table and its delivery job.

The outbox's personal-data holder is registered by ``privacy.holders.requests``: this room sits
below the holder registry.
"""

from __future__ import annotations

from clientvault.messaging import models
from clientvault.messaging.jobs import OUTBOX_DELIVERY
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="messaging",
    models=(models,),
    jobs=(OUTBOX_DELIVERY,),
    settings="smtp",
)

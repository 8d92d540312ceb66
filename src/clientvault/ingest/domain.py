"""The ingest domain: the event log, tracking sources, imports, and the consumers that turn
events into orders, groups and identity links."""

from __future__ import annotations

from clientvault.ingest import commerce, groups, identity_matching, models
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="ingest",
    models=(models,),
    holders=("clientvault.ingest.holders",),
    consumers=(commerce.CONSUMER, groups.CONSUMER, identity_matching.CONSUMER),
)

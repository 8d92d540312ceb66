"""The ingest domain: the event log, tracking sources, imports, and the consumers that turn
events into orders, groups and identity links."""

from __future__ import annotations

from clientvault.ingest import groups, identity_matching, jobs, models
from clientvault.ingest.commerce import consumer as commerce
from clientvault.ingest.commerce import models as commerce_models
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="ingest",
    models=(models, commerce_models),
    holders=("clientvault.ingest.holders",),
    consumers=(commerce.CONSUMER, groups.CONSUMER, identity_matching.CONSUMER),
    jobs=(jobs.PLANNER_STATISTICS,),
)

"""The segments domain: stored segments, their membership and its history, the refresh job,
the event consumer keeping event-driven segments current, and the RFM and persona scores."""

from __future__ import annotations

from clientvault.segments import models
from clientvault.segments.membership import CONSUMER, REFRESH
from clientvault.segments.personas import PERSONAS
from clientvault.segments.rfm import RFM
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="segments",
    models=(models,),
    holders=("clientvault.segments.holders",),
    consumers=(CONSUMER,),
    jobs=(REFRESH, RFM, PERSONAS),
    settings="segments",
)

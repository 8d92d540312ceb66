"""The segments domain: stored segments, their membership and its history, the refresh job,
the event consumer keeping event-driven segments current, computed traits (their consumer and
recompute job), and the RFM and persona scores."""

from __future__ import annotations

from clientvault.segments import models
from clientvault.segments.membership import CONSUMER, REFRESH
from clientvault.segments.personas import PERSONAS
from clientvault.segments.rfm import RFM
from clientvault.segments.traits import CONSUMER as TRAITS
from clientvault.segments.traits import RECOMPUTE
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="segments",
    models=(models,),
    holders=("clientvault.segments.holders",),
    # Traits first: the worker runs consumers in order, so membership sees fresh traits.
    consumers=(TRAITS, CONSUMER),
    jobs=(REFRESH, RFM, PERSONAS, RECOMPUTE),
    settings="segments",
)

"""The customers domain: the 360° read model, customer search and the customer scores that
higher domains (segments, analytics, predict) compute and segment rules read."""

from __future__ import annotations

from clientvault.customers import scores
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="customers",
    models=(scores,),
    holders=("clientvault.customers.holders",),
)

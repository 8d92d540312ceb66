"""Predict's description for ``clientvault.domains``: its tables, holder and scheduled jobs."""

from __future__ import annotations

from clientvault.predict import models
from clientvault.predict.jobs import JOBS
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="predict",
    models=(models,),
    holders=("clientvault.predict.holders",),
    jobs=JOBS,
)

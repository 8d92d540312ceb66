"""The automation domain: the scheduler's lease rows, e-mail delivery from the outbox and the
data-subject requests' deadline check."""

from __future__ import annotations

from clientvault.automation import models
from clientvault.automation.jobs import DSR_DEADLINES
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="automation",
    models=(models,),
    jobs=(DSR_DEADLINES,),
)

"""The automation domain: the scheduler's lease rows, the data-subject requests' deadline
check, the journeys (their tables, their event-log consumer, their jobs), and personalisation
(content slots and offers)."""

from __future__ import annotations

from clientvault.automation import models
from clientvault.automation.jobs import DSR_DEADLINES
from clientvault.automation.journeys import jobs as journey_jobs
from clientvault.automation.journeys import models as journey_models
from clientvault.automation.journeys.engine import JOURNEY_CONSUMER
from clientvault.automation.personalize import models as personalize_models
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="automation",
    models=(models, journey_models, personalize_models),
    holders=("clientvault.automation.journeys.holders",),
    consumers=(JOURNEY_CONSUMER,),
    jobs=(DSR_DEADLINES, *journey_jobs.JOBS),
    settings="automation",
)

"""The support domain: tickets, routing to agents, SLAs and CSAT, and the knowledge-base
chatbot. Its tickets hold personal data (``support.holders``)."""

from __future__ import annotations

from clientvault.store.domain import Domain
from clientvault.support import models
from clientvault.support.consumer import CONSUMER
from clientvault.support.jobs import ASSIGN, CATEGORIES, CHAT_LOG, SLA

DOMAIN = Domain(
    name="support",
    models=(models,),
    holders=("clientvault.support.holders",),
    consumers=(CONSUMER,),
    jobs=(ASSIGN, SLA, CHAT_LOG, CATEGORIES),
    settings="support",
)

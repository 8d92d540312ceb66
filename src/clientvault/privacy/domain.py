"""The privacy domain: consents, purposes, data-subject requests, retention and the holders
that export and erase every table naming a customer."""

from __future__ import annotations

from clientvault.privacy import models
from clientvault.privacy.jobs import RETENTION
from clientvault.privacy.requests import models as request_models
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="privacy",
    models=(models, request_models),
    holders=(
        "clientvault.privacy.holders.core",
        "clientvault.privacy.holders.requests",
        "clientvault.privacy.holders.identity",
    ),
    jobs=(RETENTION,),
    settings="privacy",
)

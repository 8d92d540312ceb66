"""The privacy domain: consents, purposes, data-subject requests, retention and the holders
that export and erase every table naming a customer."""

from __future__ import annotations

from clientvault.privacy import models, request_models
from clientvault.privacy.jobs import RETENTION
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="privacy",
    models=(models, request_models),
    holders=(
        "clientvault.privacy.core_holders",
        "clientvault.privacy.request_holders",
        "clientvault.privacy.identity_holders",
    ),
    jobs=(RETENTION,),
    settings="privacy",
)

"""The security domain: staff, roles, sessions, the audit log and its access alerts."""

from __future__ import annotations

from clientvault.security import models
from clientvault.security.jobs import ACCESS_ALERTS, AUDIT_CHECKPOINTS
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="security",
    models=(models,),
    jobs=(ACCESS_ALERTS, AUDIT_CHECKPOINTS),
    settings="security",
)

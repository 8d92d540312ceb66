"""The backup domain: encrypted backups, verified restores and drills; no tables of its own
(its catalogue is on the targets, ``catalogue``), four scheduled jobs."""

from __future__ import annotations

from clientvault.backup.jobs import BACKUPS, DRILLS, HEALTH, TASK_RECORDS
from clientvault.store.domain import Domain

DOMAIN = Domain(name="backup", jobs=(BACKUPS, DRILLS, HEALTH, TASK_RECORDS), settings="backup")

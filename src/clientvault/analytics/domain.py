"""The analytics domain: fitted CLV models and A/B experiments (its tables); KPIs, funnels
and cohorts are read from the event log and the commerce tables, CLV predictions are written
as customer scores."""

from __future__ import annotations

from clientvault.analytics import models
from clientvault.store.domain import Domain

DOMAIN = Domain(name="analytics", models=(models,), settings="analytics")

"""The customers domain: the 360° read model and customer search (no tables of its own)."""

from __future__ import annotations

from clientvault.store.domain import Domain

DOMAIN = Domain(name="customers")

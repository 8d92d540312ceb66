"""The golden record: one value per attribute for a person, picked from all its profiles.

A person is a root profile and every profile merged into it. For each attribute, the
survivorship rules configured for it (``settings.identity.survivorship``) narrow the
profiles holding a value, one rule after the other:

- ``verified``: values whose profile marks them verified (trait ``<attribute>_verified``);
- ``source_priority``: values from the most trusted source (``source_priority``);
- ``most_frequent``: the value most profiles agree on;
- ``most_recent``: the value of the most recently updated profile (also the final tie-break).

Every value says where it came from (profile, source, time) and which rule decided. Sealed
identifiers are opened only through ``security.pii.reveal`` with the viewer's principal and a
reason; without them they stay masked (the provenance is still shown), and e-mail/phone
agreement is judged on blind indexes, so no rule needs plaintext the viewer may not see.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import NotFound
from clientvault.identity.age_bands import age_band
from clientvault.identity.merges import person_ids, root_id
from clientvault.identity.models import SEALED_FIELDS, Customer
from clientvault.identity.profiles import refuse_erased
from clientvault.identity.schemas import GoldenRecordRead, GoldenValue
from clientvault.security.pii import reveal
from clientvault.security.principal import Principal
from clientvault.settings import IdentitySettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

#: Attributes kept in the clear on the profile (coarse, for segmentation), as shown: the age
#: as a band, since birth year and birthday together are the (sealed) birth date.
CLEAR_FIELDS = (
    "country",
    "city",
    "postal_prefix",
    "age_band",
    "gender",
    "language",
)
MASK = "••••••"


@dataclass(frozen=True)
class _Candidate:
    profile: Customer
    value: Any
    agreement: Any  # what "the same value" compares: the value, a blind index, or the profile


def golden_record(
    session: Session,
    store: Store,
    *,
    customer_id: uuid.UUID,
    viewer: Principal,
    reason: str | None = None,
    settings: IdentitySettings | None = None,
) -> GoldenRecordRead:
    """The unified profile of ``customer_id``'s person (given any of its profiles).

    With a ``reason`` the sealed identifiers are revealed for ``viewer`` (which needs
    ``pii:reveal``; the reveal is audited per profile); without one they stay masked.
    """
    config = settings or IdentitySettings()
    root = root_id(session, customer_id)
    ids = person_ids(session, root)
    profiles = list(session.scalars(select(Customer).where(Customer.id.in_(ids))))
    if not any(p.id == root and p.status != "erased" for p in profiles):
        raise NotFound("no such customer")
    refuse_erased(store, root)
    profiles.sort(key=lambda p: ids.index(p.id))
    opened = _open(session, store, profiles, viewer=viewer, reason=reason)
    values: dict[str, GoldenValue] = {}
    for attribute in SEALED_FIELDS:
        candidates = [
            _Candidate(p, _sealed_value(p, attribute, opened), _agreement(p, attribute, opened))
            for p in profiles
            if getattr(p, f"{attribute}_sealed") is not None
        ]
        values[attribute] = _decide(attribute, candidates, config, sealed=True)
    today = utcnow().date()
    for attribute in CLEAR_FIELDS:
        shown = [(p, _clear_value(p, attribute, today)) for p in profiles]
        candidates = [_Candidate(p, value, value) for p, value in shown if value is not None]
        values[attribute] = _decide(attribute, candidates, config, sealed=False)
    trait_names = sorted({name for p in profiles for name in (p.traits or {})})
    traits = {
        name: _decide(
            name,
            [
                _Candidate(p, p.traits[name], repr(p.traits[name]))
                for p in profiles
                if name in p.traits
            ],
            config,
            sealed=False,
        )
        for name in trait_names
    }
    return GoldenRecordRead(
        customer_id=root,
        profile_ids=[p.id for p in profiles],
        revealed=opened is not None,
        values=values,
        traits=traits,
    )


def _clear_value(profile: Customer, attribute: str, today: date) -> Any:
    if attribute == "age_band":
        return age_band(profile.birth_year, profile.birthday, today)
    return getattr(profile, attribute)


def _open(
    session: Session,
    store: Store,
    profiles: Sequence[Customer],
    *,
    viewer: Principal,
    reason: str | None,
) -> dict[uuid.UUID, dict[str, str | None]] | None:
    if reason is None:
        return None
    rows = {
        p.id: {
            field: getattr(p, f"{field}_sealed")
            for field in SEALED_FIELDS
            if getattr(p, f"{field}_sealed") is not None
        }
        for p in profiles
        if p.status != "erased"
    }
    rows = {customer_id: row for customer_id, row in rows.items() if row}
    if not rows:
        return {}
    return reveal(
        session, store.keystore, principal=viewer, subject_type="customer", rows=rows, reason=reason
    )


def _sealed_value(
    profile: Customer, attribute: str, opened: dict[uuid.UUID, dict[str, str | None]] | None
) -> str | None:
    if opened is None:
        return None
    return opened.get(profile.id, {}).get(attribute)


def _agreement(
    profile: Customer, attribute: str, opened: dict[uuid.UUID, dict[str, str | None]] | None
) -> Any:
    if opened is not None:
        return opened.get(profile.id, {}).get(attribute)
    if attribute in ("email", "phone"):
        return getattr(profile, f"{attribute}_index")
    return profile.id  # unknown without plaintext: every profile counts as its own value


def _decide(
    attribute: str, candidates: list[_Candidate], config: IdentitySettings, *, sealed: bool
) -> GoldenValue:
    """Apply the attribute's rules in order; the most recent remaining candidate wins."""
    rules = config.survivorship.get(attribute, config.default_survivorship)
    decided_by = "only value" if len(candidates) == 1 else "most_recent"
    remaining = candidates
    for rule in rules:
        if len(remaining) <= 1:
            break
        narrowed = _RULES[rule](attribute, remaining, config)
        if narrowed and len(narrowed) < len(remaining):
            remaining, decided_by = narrowed, rule
    if not remaining:
        return GoldenValue(value=None, masked=False)
    winner = max(remaining, key=lambda c: (c.profile.updated_at, str(c.profile.id)))
    masked = sealed and winner.value is None
    return GoldenValue(
        value=MASK if masked else winner.value,
        masked=masked,
        profile_id=winner.profile.id,
        source=winner.profile.source,
        observed_at=winner.profile.updated_at,
        rule=decided_by,
        alternatives=len({c.agreement for c in candidates}) - 1,
    )


def _verified(
    attribute: str, candidates: list[_Candidate], _: IdentitySettings
) -> list[_Candidate]:
    return [c for c in candidates if (c.profile.traits or {}).get(f"{attribute}_verified") is True]


def _source_priority(
    _: str, candidates: list[_Candidate], config: IdentitySettings
) -> list[_Candidate]:
    order = config.source_priority

    def rank(candidate: _Candidate) -> int:
        source = candidate.profile.source
        return order.index(source) if source in order else len(order)

    best = min(rank(c) for c in candidates)
    return [c for c in candidates if rank(c) == best]


def _most_frequent(_: str, candidates: list[_Candidate], __: IdentitySettings) -> list[_Candidate]:
    counts = Counter(c.agreement for c in candidates)
    top = max(counts.values())
    return [c for c in candidates if counts[c.agreement] == top]


def _most_recent(_: str, candidates: list[_Candidate], __: IdentitySettings) -> list[_Candidate]:
    latest = max(c.profile.updated_at for c in candidates)
    return [c for c in candidates if c.profile.updated_at == latest]


_RULES: dict[str, Callable[[str, list[_Candidate], IdentitySettings], list[_Candidate]]] = {
    "verified": _verified,
    "source_priority": _source_priority,
    "most_frequent": _most_frequent,
    "most_recent": _most_recent,
}

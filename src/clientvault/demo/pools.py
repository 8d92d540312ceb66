"""Pools of names, streets and towns per locale, drawn once from a seeded Faker.

Faker costs microseconds per call and has a lot of per-call machinery; drawing a few hundred
values per locale once and then combining them with a seeded ``random.Random`` is both faster
and keeps determinism in one place. Draws keep Faker's own frequency weighting (common names
come up several times in a pool, rare ones once or not at all).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from clientvault.demo.locales import COUNTRIES

POOL_SIZE = 600
PLACE_POOL_SIZE = 300


@dataclass(frozen=True)
class LocalePool:
    """The values a locale's synthetic people are made of."""

    female_first: tuple[str, ...]
    male_first: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    #: Towns outside the main cities, with a postcode each (Faker's, not necessarily matching).
    towns: tuple[tuple[str, str], ...]


def _locale_seed(seed: int, locale: str) -> int:
    digest = hashlib.sha256(f"clientvault-demo:{seed}:{locale}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def build_pool(locale: str, seed: int) -> LocalePool:
    """One locale's pools, drawn from a Faker seeded from ``seed`` and the locale's name."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(_locale_seed(seed, locale))
    return LocalePool(
        female_first=tuple(fake.first_name_female() for _ in range(POOL_SIZE)),
        male_first=tuple(fake.first_name_male() for _ in range(POOL_SIZE)),
        last=tuple(fake.last_name() for _ in range(POOL_SIZE)),
        streets=tuple(fake.street_name() for _ in range(POOL_SIZE)),
        towns=tuple((fake.city(), fake.postcode()) for _ in range(PLACE_POOL_SIZE)),
    )


def build_pools(seed: int) -> dict[str, LocalePool]:
    """The pools of every demo country's locale, keyed by locale."""
    return {country.locale: build_pool(country.locale, seed) for country in COUNTRIES}

"""Pools of names, streets and towns per locale, drawn once from a seeded Faker.

Faker costs microseconds per call and has a lot of per-call machinery; drawing a few hundred
values per locale once and then combining them with a seeded ``random.Random`` is both faster
and keeps determinism in one place. Draws keep Faker's own frequency weighting (common names
come up several times in a pool, rare ones once or not at all).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

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


def _town_names(fake: Any, rng: random.Random) -> list[str]:
    """Town names drawn from the locale's list when it has one.

    Some locales (``it_IT``) build that list from a ``set``, so its order, and thus what a
    seeded ``fake.city()`` returns, changes with the interpreter's string hashing; drawing
    from the sorted list keeps a seed's towns the same in every process.
    """
    for provider in fake.providers:
        listed = getattr(provider, "cities", None)
        if "address" in type(provider).__module__ and isinstance(listed, list | tuple):
            names = sorted(str(name) for name in listed)
            return [rng.choice(names) for _ in range(PLACE_POOL_SIZE)]
    return [str(fake.city()) for _ in range(PLACE_POOL_SIZE)]


def build_pool(locale: str, seed: int) -> LocalePool:
    """One locale's pools, drawn from a Faker seeded from ``seed`` and the locale's name."""
    from faker import Faker

    locale_seed = _locale_seed(seed, locale)
    fake = Faker(locale)
    fake.seed_instance(locale_seed)
    female = tuple(str(fake.first_name_female()) for _ in range(POOL_SIZE))
    male = tuple(str(fake.first_name_male()) for _ in range(POOL_SIZE))
    last = tuple(str(fake.last_name()) for _ in range(POOL_SIZE))
    streets = tuple(str(fake.street_name()) for _ in range(POOL_SIZE))
    names = _town_names(fake, random.Random(locale_seed))
    return LocalePool(
        female_first=female,
        male_first=male,
        last=last,
        streets=streets,
        towns=tuple((name, str(fake.postcode())) for name in names),
    )


def build_pools(seed: int) -> dict[str, LocalePool]:
    """The pools of every demo country's locale, keyed by locale."""
    return {country.locale: build_pool(country.locale, seed) for country in COUNTRIES}

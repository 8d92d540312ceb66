"""Synthetic people with planted duplicates (seeded Faker, example.com addresses) for the
identity-matching tests."""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass

from faker import Faker
from sqlalchemy.orm import Session

from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.store.context import Store


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _typo(rng: random.Random, word: str) -> str:
    """One keyboard slip: a letter replaced, dropped or two letters swapped."""
    if len(word) < 4:
        return word + "e"
    i = rng.randrange(1, len(word) - 2)
    kind = rng.choice(("replace", "drop", "swap"))
    if kind == "replace":
        return word[:i] + rng.choice("aeiourstn") + word[i + 1 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def people(count: int, *, seed: int) -> list[CustomerCreate]:
    """``count`` distinct people with a French phone, an example.com e-mail and an address."""
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    made = []
    for n in range(count):
        first, last = fake.first_name(), fake.last_name()
        made.append(
            CustomerCreate(
                first_name=first,
                last_name=last,
                email=f"{_ascii(first)}.{_ascii(last)}{n}@example.com".replace(" ", ""),
                phone=f"+33612{rng.randrange(10**5, 10**6)}",
                birth_date=fake.date_of_birth(minimum_age=18, maximum_age=90),
                street_address=fake.street_address(),
                postal_code=fake.postcode(),
                city=fake.city(),
                country="FR",
            )
        )
    return made


def duplicate(rng: random.Random, person: CustomerCreate, kind: int) -> CustomerCreate:
    """A second sign-up of ``person``: kind 0 a typo in the last name and the same e-mail in
    capitals; 1 another e-mail but the same phone and a typo in the first name; 2 first and
    last name swapped, no phone."""
    values = person.model_dump()
    if kind == 0:
        values["last_name"] = _typo(rng, person.last_name or "")
        values["email"] = (person.email or "").upper()
    elif kind == 1:
        values["first_name"] = _typo(rng, person.first_name or "")
        values["email"] = f"other{rng.randrange(10**6)}@example.com"
    else:
        values["first_name"], values["last_name"] = person.last_name, person.first_name
        values["phone"] = None
    return CustomerCreate(**values)


@dataclass(frozen=True)
class Planted:
    """Customer ids in creation order and the true duplicate pairs among them."""

    ids: list[uuid.UUID]
    pairs: set[frozenset[uuid.UUID]]


def plant(
    session: Session, store: Store, *, count: int, duplicates: int, seed: int, copies: int = 1
) -> Planted:
    """Create ``count`` people plus ``copies`` more profiles of ``duplicates`` of them (each
    copy of another kind, so with two copies a person's three records are all different)."""
    rng = random.Random(seed)
    originals = people(count, seed=seed)
    chosen = rng.sample(range(count), duplicates)
    owners = [i for i in chosen for _ in range(copies)]
    profiles = originals + [
        duplicate(rng, originals[i], (n // copies + n % copies) % 3) for n, i in enumerate(owners)
    ]
    ids = create_customers(session, store, profiles=profiles, source="test", default_region="FR")
    pairs = {frozenset((ids[i], ids[count + n])) for n, i in enumerate(owners)}
    for i in chosen:  # the copies of one person are also pairs of that person
        mine = [ids[count + n] for n, owner in enumerate(owners) if owner == i]
        pairs.update(frozenset((a, b)) for a in mine for b in mine if a != b)
    return Planted(ids=ids, pairs=pairs)

"""Planted duplicates: a second profile of an already generated person, the way real second
sign-ups look (a typo in the name, first and last name swapped, another e-mail or the same one
in other capitals or with a ``+alias``, the phone written differently, a nearby address).

The ground truth (which profile duplicates which, and what changed) is what identity
resolution is scored against.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from clientvault.demo.people import (
    Person,
    ascii_slug,
    email_local_part,
    random_domain,
    unique_email,
)
from clientvault.demo.phones import random_mobile, styles_for

#: Share of all generated profiles that are planted duplicates.
DUPLICATE_RATE = 0.05

#: Street words and their usual abbreviations.
_ABBREVIATIONS = (
    ("avenue", "av."),
    ("boulevard", "bd"),
    ("rue", "r."),
    ("straße", "str."),
    ("calle", "c/"),
    ("via", "v."),
    ("road", "rd"),
    ("street", "st"),
    ("straat", "str."),
)
_KEYBOARD_NEIGHBOURS = {
    "a": "qzs",
    "e": "zrd",
    "i": "uok",
    "o": "ipl",
    "u": "yij",
    "n": "bhm",
    "m": "nj",
    "r": "etf",
    "s": "adz",
    "t": "ryg",
    "l": "kmo",
    "c": "xv",
    "d": "sfe",
}


@dataclass(frozen=True)
class DuplicatePlan:
    """Which profile indexes are planted duplicates, and of which earlier profile."""

    #: duplicate's index → its original's index (always smaller).
    originals: dict[int, int]
    #: Indexes some later duplicate copies (their person must be kept until then).
    copied: frozenset[int]


def plan_duplicates(seed: int, customers: int, rate: float = DUPLICATE_RATE) -> DuplicatePlan:
    """Choose which profiles are duplicates (about ``rate`` of them), each of an earlier,
    non-duplicate profile; deterministic for a seed."""
    rng = random.Random(f"clientvault-demo:{seed}:duplicates")
    originals: dict[int, int] = {}
    candidates: list[int] = []
    for index in range(customers):
        if candidates and rng.random() < rate:
            originals[index] = rng.choice(candidates)
        else:
            candidates.append(index)
    return DuplicatePlan(originals, frozenset(originals.values()))


def strip_accents(text: str) -> str:
    """The text without diacritics (``Hélène`` → ``Helene``), as typed on a foreign keyboard."""
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c))


def typo(rng: random.Random, text: str) -> str:
    """The text with one plausible typing mistake (never unchanged for names of 2+ letters)."""
    if len(text) < 2:
        return text + text
    if strip_accents(text) != text and rng.random() < 0.4:
        return strip_accents(text)
    for _ in range(10):
        position = rng.randrange(1, len(text))
        kind = rng.randrange(4)
        if kind == 0:  # swap two letters
            changed = (
                text[: position - 1] + text[position] + text[position - 1] + text[position + 1 :]
            )
        elif kind == 1:  # a letter dropped
            changed = text[:position] + text[position + 1 :]
        elif kind == 2:  # a letter doubled
            changed = text[:position] + text[position] + text[position:]
        else:  # a neighbouring key
            char = text[position].lower()
            neighbours = _KEYBOARD_NEIGHBOURS.get(char)
            if not neighbours:
                continue
            changed = text[:position] + rng.choice(neighbours) + text[position + 1 :]
        if changed != text and changed:
            return changed
    return text + text[-1]


def abbreviate_street(street: str) -> str | None:
    """The street name with its street word abbreviated, or ``None`` if it has none."""
    lowered = street.lower()
    for word, short in _ABBREVIATIONS:
        position = lowered.find(word)
        if position >= 0:
            return street[:position] + short + street[position + len(word) :]
    return None


def make_duplicate(
    rng: random.Random,
    original: Person,
    *,
    default_region: str,
    emails: set[str],
    phones: set[str],
) -> tuple[Person, list[str]]:
    """A second profile of ``original`` and the list of what changed (never empty).

    Kinds: ``name_typo``, ``names_swapped``, ``email_changed``, ``email_case``,
    ``email_alias``, ``email_missing``, ``phone_format``, ``phone_changed``,
    ``phone_missing``, ``address_near``, ``birth_date_missing``, or ``exact_copy``.
    """
    person = original.copy()
    kinds: list[str] = []

    roll = rng.random()
    if roll < 0.35:
        if rng.random() < 0.5:
            person.first_name = typo(rng, person.first_name)
        else:
            person.last_name = typo(rng, person.last_name)
        kinds.append("name_typo")
    elif roll < 0.5:
        person.first_name, person.last_name = person.last_name, person.first_name
        kinds.append("names_swapped")

    if original.email is not None:
        local, _, domain = original.email.partition("@")
        roll = rng.random()
        if roll < 0.3:
            new_local = email_local_part(rng, person.first_name, person.last_name, None)
            person.email = unique_email(rng, new_local, random_domain(rng), emails)
            kinds.append("email_changed")
        elif roll < 0.5:
            person.email = f"{local[:1].upper()}{local[1:]}@{domain.capitalize()}"
            if person.email == original.email:
                person.email = original.email.upper()
            kinds.append("email_case")
        elif roll < 0.65:
            tag = rng.choice(("shop", "promo", "news", "orders", ascii_slug(person.city)[:8]))
            person.email = unique_email(rng, f"{local}+{tag or 'shop'}", domain, emails)
            kinds.append("email_alias")
        elif roll < 0.72:
            person.email = None
            kinds.append("email_missing")

    if original.phone is not None:
        roll = rng.random()
        styles = list(styles_for(person.country.code, default_region))
        if roll < 0.45 and len(styles) > 1:
            styles.remove(original.phone_style)
            person.phone_style = rng.choice(styles)
            kinds.append("phone_format")
        elif roll < 0.55:
            person.phone = None
            kinds.append("phone_missing")
        elif roll < 0.6:
            phone = random_mobile(rng, person.country.code)
            while phone in phones:
                phone = random_mobile(rng, person.country.code)
            phones.add(phone)
            person.phone = phone
            kinds.append("phone_changed")

    if rng.random() < 0.3:
        short = abbreviate_street(person.street)
        if short is not None and rng.random() < 0.5:
            person.street = short
        else:
            person.number = str(int(person.number) + rng.choice((-2, -1, 1, 2, 10)))
            if person.number in ("0", "-1") or person.number.startswith("-"):
                person.number = "1" if original.number != "1" else "2"
        kinds.append("address_near")

    if original.birth_date is not None and rng.random() < 0.15:
        person.birth_date = None
        kinds.append("birth_date_missing")

    if not kinds:
        if rng.random() < 0.3:
            kinds.append("exact_copy")
        else:
            person.last_name = typo(rng, person.last_name)
            kinds.append("name_typo")
    return person, kinds

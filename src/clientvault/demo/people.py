"""One synthetic person: name, address, e-mail on a reserved example domain, a valid mobile
number, birth date, and coarse, psychographic traits for segmentation.

Nobody here is real: names and streets come from Faker's pools, e-mail domains are only
``example.com``, ``example.org`` and ``example.net`` (reserved for documentation by RFC 2606),
and phone numbers are random digits in mobile ranges.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from clientvault.demo.draw import Weighted
from clientvault.demo.locales import COUNTRIES, City, Country, fill_postcode
from clientvault.demo.phones import format_phone, random_mobile, styles_for
from clientvault.demo.pools import LocalePool
from clientvault.identity.schemas import CustomerCreate

#: Only reserved example domains ever appear in generated e-mails.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
_DOMAINS = Weighted(EMAIL_DOMAINS, (45, 25, 30))

INTERESTS = (
    "fashion",
    "outdoor",
    "cooking",
    "technology",
    "books",
    "beauty",
    "sports",
    "home_decor",
    "gardening",
    "travel",
    "gaming",
    "wellness",
    "kids",
)
LIFESTYLES = (
    "urban_professional",
    "young_family",
    "student",
    "retiree",
    "outdoor_enthusiast",
    "homebody",
    "frequent_traveller",
    "health_conscious",
)
VALUES = (
    "sustainability",
    "local_production",
    "quality",
    "convenience",
    "price",
    "innovation",
    "animal_welfare",
    "fair_trade",
)
PRICE_SENSITIVITY = ("low", "medium", "high")
CHANNELS = ("email", "sms", "push", "phone", "none")
HOUSEHOLDS = ("single", "couple", "family", "shared")
GENDERS = ("female", "male", "non_binary", None)

_AGE_BANDS = Weighted(
    ((18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 85)), (12, 24, 22, 18, 14, 10)
)
_COUNTRIES = Weighted(COUNTRIES, [country.weight for country in COUNTRIES])
_CITIES: dict[str, Weighted[City]] = {
    country.code: Weighted(country.cities, [city.weight for city in country.cities])
    for country in COUNTRIES
}
_GENDERS = Weighted(GENDERS, (50, 47, 1.5, 1.5))
_INTEREST_COUNT = Weighted((1, 2, 3, 4), (20, 40, 28, 12))
_VALUE_COUNT = Weighted((1, 2, 3), (45, 40, 15))
_SENSITIVITY = Weighted(PRICE_SENSITIVITY, (25, 45, 30))
_STUDENT_SENSITIVITY = Weighted(PRICE_SENSITIVITY, (10, 40, 50))
_CHANNELS = Weighted(CHANNELS, (45, 14, 18, 5, 18))


@dataclass(slots=True)
class Person:
    """A synthetic person as the shop knows them (identifiers in clear, before sealing)."""

    country: Country
    gender: str | None
    first_name: str
    last_name: str
    street: str
    number: str
    postal_code: str
    city: str
    email: str | None
    phone: str | None  # E.164
    phone_style: str
    birth_date: date | None
    traits: dict[str, Any] = field(default_factory=dict)

    @property
    def street_address(self) -> str:
        """The street line, written the country's way."""
        return self.country.address_format.format(number=self.number, street=self.street)

    def profile(self) -> CustomerCreate:
        """The ``CustomerCreate`` a shop would send for this person."""
        return CustomerCreate(
            email=self.email,
            phone=format_phone(self.phone, self.country.code, self.phone_style)
            if self.phone
            else None,
            first_name=self.first_name,
            last_name=self.last_name,
            street_address=self.street_address,
            postal_code=self.postal_code,
            city=self.city,
            country=self.country.code,
            birth_date=self.birth_date,
            gender=self.gender,
            language=self.country.language,
            traits=self.traits,
        )

    def copy(self, **changes: Any) -> Person:
        """A copy with some fields changed (traits are copied, not shared)."""
        return replace(self, traits=dict(self.traits), **changes)


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits of a name (``Éloïse-Marie`` → ``eloisemarie``)."""
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded.lower() if c.isascii() and c.isalnum())


def email_local_part(rng: random.Random, first: str, last: str, birth: date | None) -> str:
    """The part before the @ that a person with these names would plausibly pick."""
    given, family = ascii_slug(first) or "client", ascii_slug(last) or "client"
    year = f"{birth.year % 100:02d}" if birth else str(rng.randint(1, 99))
    style = rng.random()
    if style < 0.34:
        return f"{given}.{family}"
    if style < 0.46:
        return f"{given}{family}"
    if style < 0.58:
        return f"{given[0]}{family}"
    if style < 0.64:
        return f"{given}_{family}"
    if style < 0.69:
        return f"{family}.{given}"
    if style < 0.85:
        return f"{given}.{family}{year}"
    return f"{given}{rng.randint(1, 999)}"


def random_domain(rng: random.Random) -> str:
    """One of the reserved example domains."""
    return _DOMAINS.pick(rng)


def unique_email(rng: random.Random, local: str, domain: str, taken: set[str]) -> str:
    """``local@domain``, with digits added until no other generated person has it.

    ``taken`` holds lower-cased addresses: two different people sharing an address would be
    merged by identity resolution and spoil the ground truth.
    """
    email = f"{local}@{domain}"
    while email.lower() in taken:
        email = f"{local}{rng.randint(1, 9999)}@{domain}"
    taken.add(email.lower())
    return email


def pick_country(rng: random.Random) -> Country:
    """A country, weighted by each country's share of customers."""
    return _COUNTRIES.pick(rng)


def birth_date_for(rng: random.Random, today: date) -> date:
    """A birth date of an adult, with the age spread of an online shop's customers."""
    low, high = _AGE_BANDS.pick(rng)
    age = rng.randint(low, high)
    return today - timedelta(days=int(age * 365.25) + rng.randrange(365))


def traits_for(rng: random.Random, age: int | None) -> dict[str, Any]:
    """Psychographic traits (interests, lifestyle, price sensitivity, channel, values)."""
    if age is not None and age < 26 and rng.random() < 0.6:
        lifestyle = "student"
    elif age is not None and age >= 63 and rng.random() < 0.6:
        lifestyle = "retiree"
    elif age is not None and 28 <= age <= 45 and rng.random() < 0.35:
        lifestyle = "young_family"
    else:
        lifestyle = rng.choice(LIFESTYLES[4:] + LIFESTYLES[:1])
    interests = rng.sample(INTERESTS[:-1], _INTEREST_COUNT.pick(rng))
    if lifestyle == "young_family":
        interests.append("kids")
    if lifestyle == "outdoor_enthusiast" and "outdoor" not in interests:
        interests.insert(0, "outdoor")
    sensitivity = _STUDENT_SENSITIVITY if lifestyle == "student" else _SENSITIVITY
    return {
        "interests": interests,
        "lifestyle": lifestyle,
        "price_sensitivity": sensitivity.pick(rng),
        "preferred_channel": _CHANNELS.pick(rng),
        "values": rng.sample(VALUES, _VALUE_COUNT.pick(rng)),
        "household": "family"
        if lifestyle == "young_family"
        else rng.choice(("single", "couple", "shared")),
    }


def make_person(
    rng: random.Random,
    pools: dict[str, LocalePool],
    *,
    today: date,
    default_region: str,
    emails: set[str],
    phones: set[str],
) -> Person:
    """A new synthetic person; ``emails`` and ``phones`` (already used) keep them unique."""
    country = pick_country(rng)
    pool = pools[country.locale]
    gender = _GENDERS.pick(rng)
    either = gender in (None, "non_binary") and rng.random() < 0.5
    if gender == "female" or either:
        first = rng.choice(pool.female_first)
    else:
        first = rng.choice(pool.male_first)
    last = rng.choice(pool.last)
    if rng.random() < country.elsewhere:
        city, postal_code = rng.choice(pool.towns)
    else:
        place = _CITIES[country.code].pick(rng)
        city = place.name
        postal_code = fill_postcode(country.postcode_format, rng.choice(place.prefixes), rng)
    birth = birth_date_for(rng, today) if rng.random() < 0.85 else None
    age = (today - birth).days // 365 if birth else None
    email = None
    if rng.random() < 0.97:
        local = email_local_part(rng, first, last, birth)
        email = unique_email(rng, local, random_domain(rng), emails)
    phone = None
    if rng.random() < 0.8:
        phone = random_mobile(rng, country.code)
        while phone in phones:
            phone = random_mobile(rng, country.code)
        phones.add(phone)
    return Person(
        country=country,
        gender=gender,
        first_name=first,
        last_name=last,
        street=rng.choice(pool.streets),
        number=str(rng.randint(1, 40) if rng.random() < 0.75 else rng.randint(41, 250)),
        postal_code=postal_code,
        city=city,
        email=email,
        phone=phone,
        phone_style=rng.choice(styles_for(country.code, default_region)),
        birth_date=birth,
        traits=traits_for(rng, age),
    )


def signup_time(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """When a customer signed up: more recently more often (the shop grows)."""
    span = (end - start).total_seconds()
    return start + timedelta(seconds=int(span * rng.random() ** 0.6))

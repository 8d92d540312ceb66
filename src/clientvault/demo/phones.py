"""Synthetic mobile numbers that are valid for their country, and the ways people write them.

Numbers are random digits inside each country's mobile ranges, kept only if they match the
country's mobile number pattern from ``phonenumbers``' own metadata (what makes
``is_valid_number`` accept them, at a fraction of its cost), so that the real ingestion path,
which validates, takes them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import cache

import phonenumbers

#: Ways of writing the same number; national forms are only used in the default region.
STYLES_INTERNATIONAL = ("e164", "international")
STYLES_NATIONAL = ("national", "national_compact", "national_dotted")


def _digits(rng: random.Random, count: int) -> str:
    return f"{rng.randrange(10**count):0{count}d}"


def _fr(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return "6" + _digits(rng, 8)
    return "7" + str(rng.randint(3, 9)) + _digits(rng, 7)


def _de(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "17" + _digits(rng, 8)
    return "15" + rng.choice("12579") + _digits(rng, 8)


def _es(rng: random.Random) -> str:
    return "6" + _digits(rng, 8)


def _it(rng: random.Random) -> str:
    return "3" + str(rng.randint(2, 9)) + _digits(rng, 8)


def _nl(rng: random.Random) -> str:
    return "6" + rng.choice("12345") + _digits(rng, 7)


def _be(rng: random.Random) -> str:
    return "4" + rng.choice("789") + _digits(rng, 7)


def _gb(rng: random.Random) -> str:
    return "7" + str(rng.randint(4, 9)) + _digits(rng, 8)


_MOBILE: dict[str, Callable[[random.Random], str]] = {
    "FR": _fr,
    "DE": _de,
    "ES": _es,
    "IT": _it,
    "NL": _nl,
    "BE": _be,
    "GB": _gb,
}


@cache
def _mobile_pattern(country: str) -> tuple[int, re.Pattern[str]]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(country)
    mobile = metadata.mobile if metadata is not None else None
    if metadata is None or metadata.country_code is None or mobile is None:  # pragma: no cover
        raise ValueError(f"no mobile numbering plan for {country}")
    pattern = mobile.national_number_pattern
    if pattern is None:  # pragma: no cover - every mobile plan has a pattern
        raise ValueError(f"no mobile number pattern for {country}")
    return int(metadata.country_code), re.compile(pattern)


def random_mobile(rng: random.Random, country: str) -> str:
    """A valid mobile number of ``country`` in E.164 (``+33612345678``).

    Random digits in the country's mobile ranges, drawn again until they match the
    country's mobile pattern (almost always the first draw).
    """
    make = _MOBILE[country]
    code, pattern = _mobile_pattern(country)
    for _ in range(50):
        national = make(rng)
        if pattern.fullmatch(national):
            return f"+{code}{national}"
    raise RuntimeError(f"no valid mobile number drawn for {country}")  # pragma: no cover


def format_phone(e164: str, country: str, style: str) -> str:
    """A number of ``country`` (given in E.164) written in one of the styles people use; all
    of them parse back to the same number."""
    if style == "e164":
        return e164
    code, _ = _mobile_pattern(country)
    number = phonenumbers.PhoneNumber(
        country_code=code, national_number=int(e164[len(str(code)) + 1 :])
    )
    if style == "international":
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
    national = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    if style == "national":
        return national
    if style == "national_compact":
        return "".join(c for c in national if c.isdigit())
    if style == "national_dotted":
        return ".".join(national.split())
    raise ValueError(f"unknown phone style {style!r}")


def styles_for(country: str, default_region: str) -> tuple[str, ...]:
    """The styles a customer of ``country`` may use: national ones only in the default region
    (elsewhere a national number would be read as one of the default region's)."""
    if country == default_region.upper():
        return STYLES_NATIONAL + STYLES_INTERNATIONAL
    return STYLES_INTERNATIONAL

"""Normalising identifiers so that equal people give equal blind indexes.

E-mail: validated syntax (email-validator, no DNS look-up) and lower-cased whole — providers
treat the local part case-insensitively in practice, and a missed match costs more than the
rare mailbox that differs only in case. Phone: E.164 via phonenumbers. Country: ISO 3166-1
alpha-2 via pycountry.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from clientvault.errors import InvalidInput


def normalise_email(value: str) -> str:
    """The canonical form of an e-mail address, or ``InvalidInput`` naming the rule broken."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid e-mail address: {exc}", details={"field": "email"}) from None
    return result.normalized.lower()


def normalise_phone(value: str, *, default_region: str) -> str:
    """The E.164 form of a phone number (``+33612345678``), or ``InvalidInput``."""
    try:
        number = phonenumbers.parse(value, default_region.upper())
    except phonenumbers.NumberParseException:
        raise InvalidInput("phone number cannot be parsed", details={"field": "phone"}) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("phone number is not a valid number", details={"field": "phone"})
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@lru_cache(maxsize=1024)
def normalise_country(value: str) -> str:
    """The ISO 3166-1 alpha-2 code of a country given by code or name, or ``InvalidInput``."""
    text = value.strip()
    country = None
    if len(text) in (2, 3):
        country = pycountry.countries.get(alpha_2=text.upper()) or pycountry.countries.get(
            alpha_3=text.upper()
        )
    if country is None:
        try:
            country = pycountry.countries.lookup(text)
        except LookupError:
            raise InvalidInput(
                "unknown country (expected an ISO 3166 code or name)", details={"field": "country"}
            ) from None
    return str(country.alpha_2)

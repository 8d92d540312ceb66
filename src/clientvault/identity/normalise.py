"""Normalising identifiers so that equal people give equal blind indexes.

E-mail: validated syntax (email-validator, no DNS look-up) and lower-cased whole — providers
treat the local part case-insensitively in practice, and a missed match costs more than the
rare mailbox that differs only in case. Phone: E.164 via phonenumbers. Country: ISO 3166-1
alpha-2 via pycountry. Names (for the customer list's search, never for matching): accents
removed, case folded, punctuation as spaces (``normalise_name``). E-mail hint: the masked form
the customer list shows (``email_hint``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from clientvault.errors import InvalidInput

#: A domain spelt in ASCII letters, digits, dots and hyphens (punycode included): the only
#: kind the fast path below takes; anything else goes through the whole library.
_ASCII_DOMAIN = re.compile(r"[A-Za-z0-9.\-]+\Z")


def normalise_email(value: str) -> str:
    """The canonical form of an e-mail address, or ``InvalidInput`` naming the rule broken."""
    text = value.strip()
    fast = _ascii_email(text)
    if fast is not None:
        return fast
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid e-mail address: {exc}", details={"field": "email"}) from None
    return result.normalized.lower()


def _ascii_email(text: str) -> str | None:
    """``validate_email``'s answer for the common address — an ASCII dot-atom before a single
    ``@``, an ASCII domain after it — or ``None`` to ask the library.

    Why: a customer import normalises an address a row, and the library spent ~0.3 ms on
    each (most of it checking the domain, which a customer base repeats). Not a second
    validator: the local part is tested with the library's own dot-atom expression (all it
    checks of such a local part), the domain with the library itself, cached per domain
    (``_email_domain``), and the address lengths with the library's limit; any doubt falls
    back to the library, which then gives its own reason. Property-tested against it.
    """
    local, at, domain = text.partition("@")
    if not at or not DOT_ATOM_TEXT.match(local) or not _ASCII_DOMAIN.match(domain):
        return None
    domains = _email_domain(domain)
    if domains is None:
        return None
    normalised = f"{local}@{domains[0]}"
    for address in (text, normalised, f"{local}@{domains[1]}"):
        if len(address.encode("utf-8")) > EMAIL_MAX_LENGTH:
            return None
    return normalised.lower()


@lru_cache(maxsize=4096)
def _email_domain(domain: str) -> tuple[str, str] | None:
    """The library's normalised and ASCII forms of a domain, or ``None`` if it refuses it."""
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.domain, result.ascii_domain


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


#: Longest e-mail hint stored (the ``customers.email_hint`` column).
EMAIL_HINT_LENGTH = 80
_MASK = "\u2022\u2022\u2022"


def normalise_name(value: str) -> str:
    """A name in the form its blind index is computed from: ``"Zoé  O'Brien-Smith"`` gives
    ``"zoe o brien smith"`` (NFKD with combining marks dropped, case folded, anything but
    letters and digits a single space). Empty when nothing is left.

    Hand-written (a few lines of ``unicodedata``) rather than a transliteration library:
    only equality of two normalised spellings matters, never a readable ASCII form.
    """
    decomposed = unicodedata.normalize("NFKD", value)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in letters).split())


def email_hint(email: str) -> str:
    """The masked form of a normalised address the customer list shows: its first character
    and its domain (``r\u2022\u2022\u2022@example.com``), enough to tell two people apart at a
    glance, not enough to write to them."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}{_MASK}@{domain}"[:EMAIL_HINT_LENGTH]

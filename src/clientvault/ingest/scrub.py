"""Scrubbing personal data out of free-form event properties and context.

Events keep behaviour, not identities: e-mail addresses, phone numbers, payment card numbers
(Luhn-checked) and IBANs (mod-97-checked) found in any string are replaced by a keyed hash
(``[email:3f9a…]``), so analyses can still count distinct values but nobody can read them back.
So is the value of any key that names a person's identifier (``recipient_name``, ``username``,
``billing_phone``…: ``identity_keys``), whatever it holds. URLs are decoded before they are
scrubbed and lose every query parameter not on the allow-list (``urls``). Every replacement
is counted. The client IP is truncated (IPv4 to /24, IPv6 to /48).

The walk is recursive: callers pass documents already checked against ``spec.MAX_NESTING``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any

import orjson
import phonenumbers

from clientvault.ingest.identity_keys import kind_of
from clientvault.ingest.urls import URL_IN_TEXT, clean_query, clean_url
from clientvault.settings import DEFAULT_URL_PARAMETERS
from clientvault.store.engine import json_serializer

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_CARD = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_PHONE = re.compile(r"(?<![\w])(?:\+|00)?\d[\d .\-()]{6,18}\d(?![\w])")
# Cheap first look, matching everything the patterns below can: most strings have no '@', no
# digit run long enough for a phone or card, no IBAN start, and skip every other regex.
_MAYBE = re.compile(r"@|\d[\d .\-()]{6,}\d|[A-Z]{2}\d{2}")
# The same look over a whole serialised document, without a regular expression: ``re`` tries
# its alternatives at every position (~40 ns a byte), while two ``bytes.translate`` into
# character classes and a few substring tests run at C speed. Equivalent to ``_MAYBE``
# (property-tested): "AA00" is ``[A-Z]{2}\d{2}``; a run of digits and separators whose
# digit-to-digit span has 8+ characters is ``\d[\d .\-()]{6,}\d``. Sound as a filter: JSON
# writes every string value verbatim except escaped quotes, backslashes and control characters,
# which no pattern can match, and a large integer as its digits; keys may match too (then the
# document is walked, as if there were no filter).
_LETTERS_DIGITS = bytes(
    ord("0") if 48 <= c <= 57 else ord("A") if 65 <= c <= 90 else ord(" ") for c in range(256)
)
_DIGIT_RUNS = bytes(
    ord("0") if 48 <= c <= 57 else ord(".") if chr(c) in " .-()" else ord(" ") for c in range(256)
)


def might_hold_pii(document: bytes) -> bool:
    """Whether any string in a serialised JSON document may hold something to scrub."""
    if b"@" in document or b"AA00" in document.translate(_LETTERS_DIGITS):
        return True
    # A URL to clean (a query, a fragment, percent-encoding), or a key naming an identifier:
    # every key ``identity_keys`` recognises outside a person's traits holds one of these
    # lower-cased, keys ending in ``name`` told apart from a bare ``name`` (a product's, an
    # SDK's). Written out: a generator over the marks costs several times more.
    if b"?" in document or b"%" in document or b"#" in document:
        return True
    lowered = document.lower()
    if (
        b"mail" in lowered
        or b"phone" in lowered
        or b"mobile" in lowered
        or b"address" in lowered
        or b"street" in lowered
        or b"birth" in lowered
        or b'"tel":' in lowered
        or b'login":' in lowered
        or b'handle":' in lowered
        or b'dob":' in lowered
        or b'avatar":' in lowered
        or lowered.count(b'name":') > lowered.count(b'"name":')
    ):
        return True
    runs = document.translate(_DIGIT_RUNS).split()
    # Most documents have no run of 8 characters at all: found by C loops alone.
    if not runs or max(map(len, runs)) < 8:
        return False
    return any(len(run.strip(b".")) >= 8 for run in runs if len(run) >= 8)


Hasher = Callable[[str, str], str]
#: How many walked documents a scrubber remembers (``Scrubber.scrub_to_json``).
_CLEAN_MEMO = 256
#: The kinds of value scrubbing replaces: found by their patterns, or under a key naming them.
SCRUB_KINDS = (
    "email",
    "phone",
    "card",
    "iban",
    "name",
    "username",
    "address",
    "birthday",
    "avatar",
)
#: A replacement left by scrubbing (kind and keyed hash), e.g. ``[email:dkfjbopnmaiecghl]``.
SCRUB_TOKEN = re.compile(rf"\[({'|'.join(SCRUB_KINDS)}):[a-p]{{16}}\]")
#: Hex digits as the letters a token shows them (a token is never mistaken for a number).
TOKEN_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn check used by payment card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """Whether a string is a structurally valid IBAN (ISO 13616 mod-97 check)."""
    text = candidate.replace(" ", "")
    if not 15 <= len(text) <= 34:
        return False
    rearranged = text[4:] + text[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def keyed_hasher(key: bytes) -> Hasher:
    """A function that replaces a value of some kind by a short keyed hash of it."""

    def replace(kind: str, value: str) -> str:
        digest = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
        # Letters only: a replacement must never look like a card or phone number itself.
        return f"[{kind}:{digest[:16].translate(TOKEN_LETTERS)}]"

    return replace


class Scrubber:
    """Replaces personal data in nested JSON values and counts what it replaced.

    ``url_parameters``: the query parameters URLs keep (names; ``*`` and ``?`` wildcards)."""

    def __init__(
        self,
        hasher: Hasher,
        *,
        default_region: str,
        url_parameters: Sequence[str] = DEFAULT_URL_PARAMETERS,
    ) -> None:
        self._hash = hasher
        self._region = default_region.upper()
        self.counts: Counter[str] = Counter()
        #: Documents walked that held nothing to replace, by their serialisation: a batch
        #: repeats some (an import's identify calls all list the same trait names, whose
        #: ``email`` and ``phone`` send every one of them through the walk).
        self._clean: dict[bytes, str] = {}
        patterns = tuple(pattern.lower() for pattern in url_parameters)
        self._keep_parameter = functools.cache(
            lambda name: any(fnmatchcase(name.lower(), pattern) for pattern in patterns)
        )

    def scrub(self, value: Any, *, person: bool = False) -> Any:
        """``value`` with personal data replaced in every string inside it (a copy if any).

        ``person``: ``value`` is a person's traits, where a bare ``name`` is theirs
        (``identity_keys``). Most events hold nothing to scrub: one look at the serialised
        document spares walking it.
        """
        if isinstance(value, dict | list) and not person:  # a person's traits are walked
            try:
                if not might_hold_pii(orjson.dumps(value)):
                    return value
            except orjson.JSONEncodeError:  # beyond JSON's types (e.g. 64-bit): walk it
                pass
        return self._walk(value, person)

    def scrub_to_json(self, document: dict[str, Any]) -> str:
        """The JSON text of ``document`` once scrubbed, as a JSON column stores it.

        What an event stores: the serialisation the pre-filter needs is the stored text too
        whenever there is nothing to scrub (most events), so it is made once.
        """
        try:
            serialised = orjson.dumps(document)
        except orjson.JSONEncodeError:  # beyond JSON's types (e.g. 64-bit integers)
            return json_serializer(self._walk(document))
        if might_hold_pii(serialised):
            known = self._clean.get(serialised)
            if known is not None:
                return known
            replaced = self.counts.total()
            text = json_serializer(self._walk(document))
            if self.counts.total() == replaced and len(self._clean) < _CLEAN_MEMO:
                self._clean[serialised] = text
            return text
        return serialised.decode("utf-8")

    def _walk(self, value: Any, person: bool = False) -> Any:
        if isinstance(value, str):
            if "://" in value or "www." in value or value[:1] in ("?", "/"):
                return self._scrub_string(value)
            return self._scrub_text(value) if _MAYBE.search(value) else value
        if isinstance(value, dict):
            # ``person`` holds for a person's own traits, not for what is nested in them.
            return {
                key: self._walk(item)
                if (kind := kind_of(key, person)) is None
                else self._identifier(kind, item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 10**12:
            text = str(value)  # a card number sent as a JSON number
            scrubbed = self._scrub_text(text)
            return value if scrubbed == text else scrubbed
        return value

    def _identifier(self, kind: str, value: Any) -> Any:
        """The value of a key naming an identifier, whatever its form, as a keyed hash."""
        if value in (None, "", [], {}) or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self._replace(kind, value.strip().casefold())
        return self._replace(kind, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())

    def _scrub_string(self, text: str) -> str:
        """A string with its URLs cleaned (``urls``), then its identifiers replaced.

        A URL is found in any text; a whole string without spaces starting with ``?`` and
        holding a ``=`` is a query (Segment's ``page.search``), one starting with ``/`` a path
        (``page.path``)."""
        if "://" in text or "www." in text:
            text = URL_IN_TEXT.sub(lambda match: self._url(match.group(0)), text)
        elif " " in text:
            pass
        elif text[:1] == "?" and "=" in text:
            query, dropped = clean_query(text[1:], keep=self._keep_parameter, scrub=self._text)
            self._count_dropped(dropped)
            text = f"?{query}" if query else ""
        elif text[:1] == "/" and any(mark in text for mark in "?#%"):
            text = self._url(text)
        return self._text(text)

    def _url(self, url: str) -> str:
        if not any(mark in url for mark in "?#%@"):
            return url  # nothing encoded, no query, no credentials: scrubbed as text after
        cleaned, dropped = clean_url(url, keep=self._keep_parameter, scrub=self._text)
        self._count_dropped(dropped)
        return cleaned

    def _count_dropped(self, dropped: int) -> None:
        if dropped:
            self.counts["url_parameter"] += dropped

    def _text(self, text: str) -> str:
        return self._scrub_text(text) if _MAYBE.search(text) else text

    def _scrub_text(self, text: str) -> str:
        text = _EMAIL.sub(lambda m: self._replace("email", m.group(0).lower()), text)
        text = _IBAN.sub(self._iban, text)
        text = _CARD.sub(self._card, text)
        return _PHONE.sub(self._phone, text)

    def _replace(self, kind: str, value: str) -> str:
        self.counts[kind] += 1
        return self._hash(kind, value)

    def _iban(self, match: re.Match[str]) -> str:
        value = match.group(0)
        return self._replace("iban", value.replace(" ", "")) if iban_valid(value) else value

    def _card(self, match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return self._replace("card", digits)
        return match.group(0)

    def _phone(self, match: re.Match[str]) -> str:
        value = match.group(0)
        try:
            number = phonenumbers.parse(value, self._region)
        except phonenumbers.NumberParseException:
            return value
        # "Possible" (right length for its country), not "valid": a number from a range not yet
        # allocated is still someone's phone number in the making, and privacy errs on the
        # side of scrubbing.
        if not phonenumbers.is_possible_number(number):
            return value
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return self._replace("phone", e164)


def truncate_ip(value: str) -> str | None:
    """The network part of an IP address (IPv4 /24, IPv6 /48); ``None`` if not an address."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)

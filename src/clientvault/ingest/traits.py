"""Splitting Segment ``identify`` traits into sealed identifiers, coarse attributes and the rest.

Segment's reserved traits (``email``, ``phone``, ``firstName``, ``lastName``, ``name``,
``username``, ``address{street, city, postalCode, country}``, ``birthday``, ``gender``) map
onto the profile; identifiers never reach a clear column or the event log. Other traits are
kept on the profile after scrubbing, which replaces the value of any other trait naming an
identifier (``ingest.identity_keys``) by a keyed hash.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.identity_keys import identity_kind

#: Trait names (any case/style) that carry direct identifiers: removed wherever they appear.
IDENTIFIER_KEYS = frozenset(
    {
        "email",
        "phone",
        "firstname",
        "first_name",
        "lastname",
        "last_name",
        "name",
        "address",
        "street",
        "birthday",
        "birth_date",
        "birthdate",
        "username",
    }
)
_COARSE = ("gender", "language", "city", "country")


class InvalidTraits(ValueError):
    """Traits that cannot form a valid profile; the reason names fields, never values."""


def profile_from_traits(traits: dict[str, Any]) -> CustomerCreate:
    """The profile update an ``identify`` call carries."""
    raw_address = traits.get("address")
    address: dict[str, Any] = raw_address if isinstance(raw_address, dict) else {}
    first = traits.get("firstName", traits.get("first_name"))
    last = traits.get("lastName", traits.get("last_name"))
    name = traits.get("name")
    if isinstance(name, str) and first is None and last is None and name.strip():
        # "Ann Lee" is a first and a last name; a single word is taken as the first name
        # rather than dropped.
        first, _, rest = name.strip().partition(" ")
        last = rest or None
    fields: dict[str, Any] = {
        "email": traits.get("email"),
        "phone": traits.get("phone"),
        "first_name": first,
        "last_name": last,
        # A one-line address (a string rather than Segment's object) is the street's.
        "street_address": raw_address if isinstance(raw_address, str) else address.get("street"),
        "postal_code": address.get("postalCode", address.get("postal_code")),
        "city": address.get("city", traits.get("city")),
        "country": address.get("country", traits.get("country")),
        "birth_date": _date_part(traits.get("birthday", traits.get("birth_date"))),
        "username": traits.get("username"),
        "gender": traits.get("gender"),
        "language": traits.get("language"),
        "traits": {
            key: value
            for key, value in traits.items()
            if key.lower() not in IDENTIFIER_KEYS and key not in _COARSE
        },
    }
    try:
        return CustomerCreate.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        where = ", ".join(
            f"traits.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise InvalidTraits(where) from None


def without_identifiers(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a person's traits without the keys naming an identifier (``context.traits``
    of an event: ``name``, ``username``, ``email``… under any spelling)."""
    return {key: value for key, value in values.items() if identity_kind(key, person=True) is None}


def _date_part(value: Any) -> Any:
    # Segment sends birthdays as ISO dates or date-times; only the date part is kept.
    if isinstance(value, str) and len(value) > 10 and value[10] in "T ":
        return value[:10]
    return value

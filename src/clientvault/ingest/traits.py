"""Splitting Segment ``identify`` traits into sealed identifiers, coarse attributes and the rest.

Segment's reserved traits (``email``, ``phone``, ``firstName``, ``lastName``, ``name``,
``address{street, city, postalCode, country}``, ``birthday``, ``gender``) map onto the profile;
identifiers never reach a clear column or the event log. Other traits are kept on the profile
after scrubbing.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from clientvault.identity.schemas import CustomerCreate

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
    if isinstance(name, str) and first is None and last is None and " " in name.strip():
        first, last = name.strip().split(" ", 1)
    fields: dict[str, Any] = {
        "email": traits.get("email"),
        "phone": traits.get("phone"),
        "first_name": first,
        "last_name": last,
        "street_address": address.get("street"),
        "postal_code": address.get("postalCode", address.get("postal_code")),
        "city": address.get("city", traits.get("city")),
        "country": address.get("country", traits.get("country")),
        "birth_date": _date_part(traits.get("birthday", traits.get("birth_date"))),
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
    """A copy of a mapping without identifier-carrying keys (e.g. ``context.traits``)."""
    return {key: value for key, value in values.items() if key.lower() not in IDENTIFIER_KEYS}


def _date_part(value: Any) -> Any:
    # Segment sends birthdays as ISO dates or date-times; only the date part is kept.
    if isinstance(value, str) and len(value) > 10 and value[10] in "T ":
        return value[:10]
    return value

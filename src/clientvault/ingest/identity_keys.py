"""Which keys of a tracked document name a person's direct identifiers.

Segment's spec reserves traits that identify a person — ``name``, ``firstName``, ``lastName``,
``username``, ``email``, ``phone``, ``address``, ``birthday``, ``avatar`` (the other reserved
traits, such as ``age``, ``company``, ``title``, ``gender`` or ``createdAt``, describe rather than
identify). This module recognises them under any spelling (``first_name``, ``E-Mail``,
``dateOfBirth``…) and in compound keys naming someone's identifier (``recipient_name``,
``billing_phone``, ``shippingAddress``), wherever they appear: in traits they are sealed on
the profile or dropped, in free properties they are replaced by a keyed hash (``scrub``).

A bare ``name`` names the person only among a person's traits: in event properties Segment's
spec uses it for the page, the screen or the product, which analyses need.
"""

from __future__ import annotations

import functools
import re

#: Normalised keys (lower case, letters and digits only) and the identifier kind they carry.
_EXACT = {
    "email": "email",
    "mail": "email",
    "phone": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "tel": "phone",
    "firstname": "name",
    "givenname": "name",
    "lastname": "name",
    "surname": "name",
    "familyname": "name",
    "middlename": "name",
    "fullname": "name",
    "username": "username",
    "login": "username",
    "nickname": "username",
    "screenname": "username",
    "handle": "username",
    "address": "address",
    "street": "address",
    "streetaddress": "address",
    "addressline1": "address",
    "addressline2": "address",
    "birthday": "birthday",
    "birthdate": "birthday",
    "dateofbirth": "birthday",
    "dob": "birthday",
    "avatar": "avatar",
}
#: Endings of compound keys that carry an identifier whatever comes before them.
_ENDINGS = (
    ("emailaddress", "email"),
    ("email", "email"),
    ("phonenumber", "phone"),
    ("phone", "phone"),
    ("mobilenumber", "phone"),
    ("firstname", "name"),
    ("lastname", "name"),
    ("fullname", "name"),
    ("surname", "name"),
    ("username", "username"),
    ("streetaddress", "address"),
    ("birthdate", "birthday"),
    ("dateofbirth", "birthday"),
)
#: Who a ``…name`` or ``…address`` key may belong to: a person, not a product or a page.
_PEOPLE = frozenset(
    {
        "recipient",
        "customer",
        "client",
        "sender",
        "contact",
        "buyer",
        "payer",
        "payee",
        "beneficiary",
        "receiver",
        "addressee",
        "billing",
        "shipping",
        "delivery",
        "home",
        "postal",
        "mailing",
        "display",
        "user",
        "account",
        "member",
        "guest",
        "holder",
        "cardholder",
        "owner",
        "person",
        "patient",
        "employee",
        "author",
        "friend",
        "real",
        "legal",
        "maiden",
        "nick",
        "screen",
        "given",
        "family",
        "middle",
    }
)
_NOT_LETTERS = re.compile(r"[^0-9a-z]")


def identity_kind(key: str, *, person: bool) -> str | None:
    """The kind of identifier a key names (``email``, ``phone``, ``name``, ``username``,
    ``address``, ``birthday``, ``avatar``), or ``None``.

    ``person``: the key is one of a person's traits (an identify call's, ``context.traits``),
    where a bare ``name`` is theirs."""
    return kind_of(key, person)


@functools.lru_cache(maxsize=4096)
def kind_of(key: str, person: bool) -> str | None:
    """``identity_kind`` with positional arguments, cached: keys repeat across events, and
    the scrubber asks for every key it walks."""
    normalised = _NOT_LETTERS.sub("", key.casefold())
    if normalised == "name":
        return "name" if person else None
    kind = _EXACT.get(normalised)
    if kind is not None:
        return kind
    for ending, kind in _ENDINGS:
        if normalised.endswith(ending):
            return kind
    for ending, kind in (("name", "name"), ("address", "address")):
        if normalised.endswith(ending) and normalised[: -len(ending)] in _PEOPLE:
            return kind
    return None

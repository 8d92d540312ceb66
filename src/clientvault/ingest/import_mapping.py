"""Turning CSV columns into Segment ``identify`` messages: the column mapping and the row → message
step of a customer import.

A mapping names, for each *target* (``email``, ``firstName``, ``city``, ``traits.plan``…), the
CSV header it is read from. Headers that already spell a target (``email``, ``First Name``,
``user_id``…) map to it by default. Address parts go into Segment's ``address`` trait, so the
tracking pipeline seals and coarsens them like any identify call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from clientvault.errors import InvalidInput
from clientvault.ingest.traits import IDENTIFIER_KEYS

#: Where each target goes in the identify message (a path of keys).
_PLACES: dict[str, tuple[str, ...]] = {
    "userId": ("userId",),
    "anonymousId": ("anonymousId",),
    "timestamp": ("timestamp",),
    "email": ("traits", "email"),
    "phone": ("traits", "phone"),
    "firstName": ("traits", "firstName"),
    "lastName": ("traits", "lastName"),
    "name": ("traits", "name"),
    "username": ("traits", "username"),
    "birthday": ("traits", "birthday"),
    "gender": ("traits", "gender"),
    "language": ("traits", "language"),
    "street": ("traits", "address", "street"),
    "city": ("traits", "address", "city"),
    "postalCode": ("traits", "address", "postalCode"),
    "country": ("traits", "address", "country"),
}
#: Other spellings of targets, compared after ``_key`` (lower case, letters and digits only).
_ALIASES = {
    "id": "userId",
    "emailaddress": "email",
    "phonenumber": "phone",
    "birthdate": "birthday",
    "dateofbirth": "birthday",
    "streetaddress": "street",
    "address": "street",
    "zip": "postalCode",
    "zipcode": "postalCode",
    "postcode": "postalCode",
}
_BY_KEY: dict[str, str] = {
    **{re.sub(r"[^0-9a-z]", "", name.lower()): name for name in _PLACES},
    **_ALIASES,
}
#: A row is only importable if one of these has a value: they are what stitching matches on.
IDENTIFYING_TARGETS = ("userId", "anonymousId", "email", "phone")
_CUSTOM_PREFIX = "traits."
#: ``externalId.<type>``: an external identifier (customer number, national id…), sent as
#: Segment's ``context.externalIds`` entry, so it is stored only as a blind index.
_EXTERNAL_PREFIX = "externalId."
_MAX_EXTERNAL_TYPE = 27  # the identity kind is "ext:<type>", at most 32 characters
_MAX_TRAIT_NAME = 64


class ImportOptionsError(InvalidInput):
    """The import's options (mapping, delimiter, source, report path) are unusable; nothing
    was imported. The message names targets and headers, never row values."""

    default_code = "invalid_import_options"


class RowProblem(ValueError):
    """One row cannot become a message; ``reason`` names columns and rules, never values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def canonical_target(name: str) -> str:
    """The canonical target for a name as a user may spell it (``first_name`` → ``firstName``).

    ``traits.<name>`` is a custom trait, kept on the profile in the clear: its name must not be
    one that carries an identifier or a reserved trait (those have their own target).
    """
    text = name.strip()
    if text.startswith(_CUSTOM_PREFIX):
        trait = text[len(_CUSTOM_PREFIX) :].strip()
        if not trait or len(trait) > _MAX_TRAIT_NAME:
            raise ImportOptionsError(
                f"a custom trait target is traits.<name> with a name of 1 to {_MAX_TRAIT_NAME} "
                "characters"
            )
        if trait.lower() in IDENTIFIER_KEYS or _key(trait) in _BY_KEY:
            raise ImportOptionsError(
                f"{text!r} is a reserved trait: map it to the target "
                f"{_BY_KEY.get(_key(trait), trait)!r} instead"
            )
        return _CUSTOM_PREFIX + trait
    if text.startswith(_EXTERNAL_PREFIX):
        kind = text[len(_EXTERNAL_PREFIX) :].strip().lower()
        if not re.fullmatch(rf"[a-z0-9_]{{1,{_MAX_EXTERNAL_TYPE}}}", kind):
            raise ImportOptionsError(
                f"an external id target is externalId.<type> with a type of 1 to "
                f"{_MAX_EXTERNAL_TYPE} letters, digits or underscores"
            )
        return _EXTERNAL_PREFIX + kind
    target = _BY_KEY.get(_key(text))
    if target is None:
        raise ImportOptionsError(
            f"unknown target {text!r}; targets are {', '.join(_PLACES)}, "
            "traits.<name> for a custom trait or externalId.<type> for an external id"
        )
    return target


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["email=E-mail", "firstName=Prénom"]`` (``--map`` options) as ``{target: header}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        target, sep, header = pair.partition("=")
        if not sep or not target.strip() or not header.strip():
            raise ImportOptionsError(f"--map takes TARGET=HEADER, not {pair!r}")
        if target.strip() in mapping:
            raise ImportOptionsError(f"the target {target.strip()!r} is mapped twice")
        mapping[target.strip()] = header.strip()
    return mapping


def parse_mapping_json(content: bytes) -> dict[str, str]:
    """A JSON mapping file (``{"email": "E-mail", …}``) as ``{target: header}``."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise ImportOptionsError("the mapping is not valid JSON") from None
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in data.items()
    ):
        raise ImportOptionsError('the mapping must be a JSON object {"target": "CSV header"}')
    return {key.strip(): value.strip() for key, value in data.items()}


@dataclass(frozen=True)
class ColumnMapping:
    """Resolved against a file's header: which column feeds which target."""

    columns: tuple[tuple[str, int], ...]  # (canonical target, column index)
    width: int
    ignored: tuple[str, ...]  # headers that feed no target

    @property
    def targets(self) -> tuple[str, ...]:
        """The mapped targets, in column order."""
        return tuple(target for target, _ in self.columns)


def resolve_mapping(header: Sequence[str], explicit: Mapping[str, str] | None) -> ColumnMapping:
    """Check a mapping against the file's header and complete it with the default mapping.

    Explicit entries win; each target not mapped explicitly takes the header that spells it,
    if exactly one does. Every problem is an ``ImportOptionsError`` raised before any row is
    read, so a wrong mapping never imports half a file.
    """
    names = [cell.strip() for cell in header]
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        positions.setdefault(name, []).append(index)
    chosen: dict[str, int] = {}
    for given, column in (explicit or {}).items():
        target = canonical_target(given)
        if target in chosen:
            raise ImportOptionsError(f"the target {target!r} is mapped twice")
        found = positions.get(column.strip(), [])
        if not found:
            raise ImportOptionsError(
                f"the column {column!r} (mapped to {target!r}) is not in the file's header"
            )
        if len(found) > 1:
            raise ImportOptionsError(f"the file's header has the column {column!r} twice")
        chosen[target] = found[0]
    used = set(chosen.values())
    defaults: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        spelt = _BY_KEY.get(_key(name))
        if spelt is not None and spelt not in chosen and index not in used:
            defaults.setdefault(spelt, []).append(index)
    for target, found in defaults.items():
        if len(found) > 1:
            both = " and ".join(repr(names[i]) for i in found)
            raise ImportOptionsError(
                f"the columns {both} both map to {target!r}; choose one with --map {target}=HEADER"
            )
        chosen[target] = found[0]
    if not any(target in chosen for target in IDENTIFYING_TARGETS):
        raise ImportOptionsError(
            "no column is mapped to an identifier: map at least one of "
            f"{', '.join(IDENTIFYING_TARGETS)} (customers are matched on them)"
        )
    mapped = set(chosen.values())
    return ColumnMapping(
        columns=tuple(sorted(chosen.items(), key=lambda item: item[1])),
        width=len(names),
        ignored=tuple(name for index, name in enumerate(names) if index not in mapped),
    )


def row_message(
    values: Sequence[str], mapping: ColumnMapping, *, message_id: Callable[[bytes], str]
) -> dict[str, Any]:
    """The identify message for one CSV row (raises ``RowProblem``).

    Empty cells are absent values, not erasures. The message id is derived from the mapped
    content (``message_id`` is given its canonical bytes), so importing the same row again is a
    duplicate; without a user id the row gets the anonymous id ``import:<message id>`` because
    the tracking spec requires one of the two.
    """
    if len(values) != mapping.width:
        raise RowProblem(f"expected {mapping.width} fields, found {len(values)}")
    message: dict[str, Any] = {"type": "identify", "traits": {}}
    for target, index in mapping.columns:
        value = values[index].strip()
        if not value:
            continue
        if target.startswith(_CUSTOM_PREFIX):
            message["traits"][target[len(_CUSTOM_PREFIX) :]] = value
            continue
        if target.startswith(_EXTERNAL_PREFIX):
            external = {"id": value, "type": target[len(_EXTERNAL_PREFIX) :]}
            message.setdefault("context", {}).setdefault("externalIds", []).append(
                {**external, "collection": "users", "encoding": "none"}
            )
            continue
        *parents, leaf = _PLACES[target]
        node = message
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    if not any(
        message.get(target) or message["traits"].get(target) for target in IDENTIFYING_TARGETS
    ):
        present = [t for t in IDENTIFYING_TARGETS if t in mapping.targets]
        cells = " and ".join(
            [", ".join(present[:-1]), present[-1]] if len(present) > 1 else present
        )
        raise RowProblem(f"no identifier: {cells} {'is' if len(present) == 1 else 'are'} empty")
    message["messageId"] = message_id(orjson.dumps(message, option=orjson.OPT_SORT_KEYS))
    if "userId" not in message and "anonymousId" not in message:
        message["anonymousId"] = "import:" + message["messageId"]
    return message

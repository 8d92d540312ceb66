"""The Segment tracking spec: what one message may contain, validated per message.

Field names and semantics follow Segment's HTTP tracking API so that existing SDKs work
unchanged. Unknown top-level fields are ignored rather than refused: SDKs add their own
(``_metadata``, ``channel``, ``rudderId``…) and the spec says receivers must tolerate them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
#: How deeply objects and arrays may nest in one message, the message object itself being
#: level 1. Segment's SDKs send a few levels (``context.page``, ``properties.products[]``…);
#: the limit is checked before anything walks a message, so that every later walk
#: (scrubbing, erasure, serialising) stays far below Python's recursion limit and orjson's
#: 254 levels. orjson's parser refuses more than 1024 levels by itself (``parse_json``).
MAX_NESTING = 32
_CONTAINERS = (dict, list)
TOO_DEEP = f"objects and arrays nested deeper than {MAX_NESTING} levels, the limit of a message"
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")

#: Segment accepts numeric ids and treats them as strings (booleans stay refused).
Identifier = Annotated[str, Field(min_length=1, max_length=255, coerce_numbers_to_str=True)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    message_id: str | None = Field(default=None, alias="messageId", min_length=1, max_length=128)
    user_id: Identifier | None = Field(default=None, alias="userId")
    anonymous_id: Identifier | None = Field(default=None, alias="anonymousId")
    timestamp: datetime | None = None
    original_timestamp: datetime | None = Field(default=None, alias="originalTimestamp")
    sent_at: datetime | None = Field(default=None, alias="sentAt")
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _someone(self) -> _Message:
        if self.user_id is None and self.anonymous_id is None:
            raise ValueError("either userId or anonymousId is required")
        return self


class Identify(_Message):
    """Who the user is, with their traits."""

    type: Literal["identify"] = "identify"
    traits: dict[str, Any] = Field(default_factory=dict)


class Track(_Message):
    """Something the user did."""

    type: Literal["track"] = "track"
    event: str = Field(min_length=1, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class Page(_Message):
    """A web page the user viewed."""

    type: Literal["page"] = "page"
    name: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class Screen(_Message):
    """A mobile screen the user viewed."""

    type: Literal["screen"] = "screen"
    name: str | None = Field(default=None, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class Group(_Message):
    """The user's membership of a group (account, company…)."""

    type: Literal["group"] = "group"
    group_id: Identifier = Field(alias="groupId")
    traits: dict[str, Any] = Field(default_factory=dict)


class Alias(_Message):
    """Two identities of the same user (``previousId`` becomes ``userId``)."""

    type: Literal["alias"] = "alias"
    previous_id: Identifier = Field(alias="previousId")
    user_id: Identifier = Field(alias="userId")


Message = Annotated[Identify | Track | Page | Screen | Group | Alias, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Identify | Track | Page | Screen | Group | Alias] = TypeAdapter(Message)


class InvalidMessage(ValueError):
    """A message that breaks the spec; ``reason`` says how, without echoing its values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_json(document: bytes | bytearray | str) -> Any:
    """A JSON document's value; ``InvalidMessage`` if it is not JSON, saying so separately
    when it nests deeper than orjson's parser allows (1024 levels, a fixed limit of orjson)."""
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        # orjson reports its depth limit only in the message text ("depth limit exceeded").
        if "depth limit" in str(exc):
            raise InvalidMessage(TOO_DEEP) from None
        raise InvalidMessage("not valid JSON") from None


def nests_deeper_than(value: object, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels deep in ``value``, a JSON
    value as a parser makes it (plain dicts and lists); checked level by level, without
    recursion, so any depth is safe to look at. Exact types rather than ``isinstance``: this
    runs on every message, and the exact test costs half as much."""
    level: list[Any] = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        level = [
            item
            for container in level
            for item in (container.values() if type(container) is dict else container)
            if type(item) in _CONTAINERS
        ]
        if not level:
            return False
    return bool(level)


def parse_message(raw: object, *, implied_type: str | None = None) -> Message:
    """Validate one message (its ``type`` implied by the endpoint, or read from it).

    A message nesting deeper than ``MAX_NESTING`` is refused before anything walks it."""
    if not isinstance(raw, dict):
        raise InvalidMessage("a message must be a JSON object")
    if nests_deeper_than(raw, MAX_NESTING):
        raise InvalidMessage(TOO_DEEP)
    if implied_type is not None:
        given = raw.get("type", implied_type)
        if given != implied_type:
            raise InvalidMessage(f"type {given!r} sent to the /v1/{implied_type} endpoint")
        raw = {**raw, "type": implied_type}
    elif raw.get("type") not in MESSAGE_TYPES:
        raise InvalidMessage(
            f"unknown or missing message type (expected one of {', '.join(MESSAGE_TYPES)})"
        )
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise InvalidMessage(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """A one-line reason naming the fields and rules broken, never the input values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(p) for p in error["loc"] if p not in MESSAGE_TYPES)
        parts.append(f"{location or 'message'}: {error['msg']}")
    return "; ".join(parts)

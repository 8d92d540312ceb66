"""The Segment message spec: numeric ids become strings, other wrong types are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clientvault.ingest.spec import (
    MAX_NESTING,
    Alias,
    Group,
    InvalidMessage,
    Track,
    nests_deeper_than,
    parse_message,
)

_NUMBERS = st.integers() | st.floats(allow_nan=False, allow_infinity=False)


@given(_NUMBERS, _NUMBERS)
def test_numeric_ids_are_taken_as_their_text(user: float, anonymous: float) -> None:
    message = parse_message(
        {"type": "track", "event": "Viewed", "userId": user, "anonymousId": anonymous}
    )
    assert isinstance(message, Track)
    assert (message.user_id, message.anonymous_id) == (str(user), str(anonymous))


def test_numeric_previous_and_group_ids_too() -> None:
    alias = parse_message({"type": "alias", "userId": 7, "previousId": 12.5})
    group = parse_message({"type": "group", "userId": "u", "groupId": 99})
    assert isinstance(alias, Alias)
    assert isinstance(group, Group)
    assert (alias.user_id, alias.previous_id, group.group_id) == ("7", "12.5", "99")


@pytest.mark.parametrize(
    ("field", "value"),
    [("userId", True), ("userId", [1]), ("anonymousId", {"id": 1}), ("event", 7)],
)
def test_other_types_are_refused_with_the_field_named(field: str, value: object) -> None:
    raw = {"type": "track", "event": "Viewed", "userId": "u-1", field: value}
    with pytest.raises(InvalidMessage, match=field):
        parse_message(raw)


def test_a_number_is_not_mistaken_for_nothing() -> None:
    # Zero is a value, not a missing id.
    message = parse_message({"type": "track", "event": "Viewed", "userId": 0})
    assert message.user_id == "0"


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=3),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
        max_leaves=40,
    ),
    st.integers(min_value=0, max_value=12),
)
def test_nesting_is_measured_like_a_recursive_walk_would(value: object, limit: int) -> None:
    assert nests_deeper_than(value, limit) == (_depth(value) > limit)


def test_a_message_nested_too_deep_is_refused_naming_the_limit() -> None:
    properties: object = 1
    for _ in range(MAX_NESTING - 1):
        properties = [properties]
    message = {"type": "track", "userId": "u", "event": "A", "properties": {"x": properties}}
    with pytest.raises(InvalidMessage, match=f"{MAX_NESTING} levels"):
        parse_message(message)
    parse_message({**message, "properties": {"x": properties[0]}})  # type: ignore[index]

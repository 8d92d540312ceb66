"""The Segment message spec: numeric ids become strings, other wrong types are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clientvault.ingest.spec import Alias, Group, InvalidMessage, Track, parse_message

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

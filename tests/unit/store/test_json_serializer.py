"""JSON columns are written by orjson, with the standard library for what orjson refuses."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from clientvault.store.engine import json_serializer

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_any_json_value_round_trips(value: object) -> None:
    assert json.loads(json_serializer(value)) == value


def test_integers_beyond_64_bits_fall_back_to_the_standard_library() -> None:
    assert json.loads(json_serializer({"order": 2**70})) == {"order": 2**70}

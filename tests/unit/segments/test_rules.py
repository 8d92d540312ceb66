"""The rule language: errors naming the faulty node's path, size and depth limits, schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientvault.errors import InvalidInput
from clientvault.segments import rules as r


def _error(document: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        r.parse_rules(document)
    return caught.value.message


def test_errors_name_the_path_of_the_faulty_node() -> None:
    rule = {
        "all": [
            {"type": "age", "min": 20},
            {"type": "attribute", "field": "country", "values": ["FR"]},
            {"type": "event", "event": {"name": "Visit"}, "window": {"last_days": 0}},
        ]
    }
    assert _error(rule).startswith("rules.all[2].window.last_days: ")
    nested = {"not": {"any": [{"type": "trait", "key": "a b", "op": "eq", "value": "x"}]}}
    assert _error(nested).startswith("rules.not.any[0].key: ")
    assert _error({"all": [{"type": "teleport"}]}).startswith("rules.all[0]: ")
    assert "rules.event.name" in _error({"type": "event", "event": {}})
    assert _error({"type": "age"}).startswith("rules: ")


def test_deep_and_large_rules_are_refused_clearly() -> None:
    deep: dict[str, Any] = {"type": "age", "min": 1}
    for _ in range(1000):
        deep = {"not": deep}
    with pytest.raises(InvalidInput) as caught:
        r.parse_rules(deep)
    assert caught.value.code == "rule_too_deep"
    wide = {"any": [{"type": "age", "min": 1}] * 10_000}
    with pytest.raises(InvalidInput) as caught:
        r.parse_rules(wide)
    assert caught.value.code == "rule_too_large"
    # Just under the limits is fine.
    ok: dict[str, Any] = {"type": "age", "min": 1}
    for _ in range(r.MAX_DEPTH - 1):
        ok = {"not": ok}
    r.parse_rules(ok)


@pytest.mark.parametrize("key", ["a.b", "a'b", "$.x", "a[0]", 'x"', "", "é", "a" * 65, "1abc"])
def test_trait_keys_cannot_escape_their_json_path(key: str) -> None:
    assert "rules.key" in _error({"type": "trait", "key": key, "op": "is_set"})


def test_huge_numbers_are_refused() -> None:
    assert "rules.value" in _error(
        {"type": "orders", "metric": "total_spent", "op": "gt", "value": 1e300}
    )
    assert "rules.value" in _error({"type": "event", "event": {"name": "x"}, "value": 10**30})


def test_round_trip_and_schema() -> None:
    rule = {
        "all": [
            {"type": "attribute", "field": "country", "values": ["FR", "BE"]},
            {"not": {"type": "consent", "purpose": "newsletter"}},
            {"type": "event", "event": {"name": "Visit"}, "window": {"since": "2026-01-01"}},
        ]
    }
    assert r.dump(r.parse_rules(rule)) == rule
    schema = r.rules_schema()
    text = json.dumps(schema)
    for kind in ("sequence", "orders", "bought_category", "score", "segment"):
        assert f'"{kind}"' in text


@settings(max_examples=60)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["all", "any", "not", "type", "x"]), inner, max_size=3
            )
        ),
        max_leaves=20,
    )
)
def test_any_document_gives_a_rule_or_a_clear_error(document: Any) -> None:
    message = "rules"
    try:
        r.parse_rules(document)
    except InvalidInput as exc:
        message = exc.message
    assert message.startswith("rules")


def test_behavioural_conditions_name_their_faulty_field() -> None:
    visit = {"name": "Visit"}
    regular = {"type": "regularly", "event": visit, "unit": "week", "total_periods": 4}
    assert _error({"all": [{**regular, "min_periods": 5}]}).startswith("rules.all[0]: ")
    assert _error({"any": [{**regular, "min_periods": 0}]}).startswith("rules.any[0].min_periods: ")
    assert _error({**regular, "min_periods": 1, "unit": "year"}).startswith("rules.unit: ")
    assert _error({**regular, "min_periods": 1, "total_periods": 10**6}).startswith(
        "rules.total_periods: "
    )
    stopped = {"type": "stopped", "event": visit}
    assert "give days_ago or at" in _error({**stopped, "quiet_from": {}})
    assert _error({**stopped, "quiet_from": {"days_ago": -1}}).startswith(
        "rules.quiet_from.days_ago: "
    )
    assert "must be larger" in _error(
        {**stopped, "active_from": {"days_ago": 3}, "quiet_from": {"days_ago": 7}}
    )
    restarted = {"type": "restarted", "event": visit, "quiet_from": {"at": "2026-06-10"}}
    assert "must come first" in _error({**restarted, "quiet_until": {"at": "2026-06-01"}})
    assert "time zone" in _error({**restarted, "quiet_until": {"at": "2026-06-11T10:00:00"}})
    ok = r.parse_rules({**restarted, "quiet_until": {"days_ago": 1}})
    assert isinstance(ok, r.RestartedCondition)
    assert {"regularly", "stopped", "restarted"} <= set(json.dumps(r.rules_schema()).split('"'))


def test_behavioural_conditions_in_words() -> None:
    from clientvault.segments.service import describe

    visit = {"name": "Visit"}
    said = [
        describe(r.parse_rules(rule))
        for rule in (
            {
                "type": "regularly",
                "event": visit,
                "unit": "week",
                "total_periods": 4,
                "min_periods": 3,
                "min_times": 2,
                "include_current": False,
            },
            {"type": "stopped", "event": visit, "quiet_from": {"days_ago": 30}},
            {
                "type": "restarted",
                "event": visit,
                "active_from": {"at": "2026-01-01"},
                "quiet_from": {"days_ago": 60},
                "quiet_until": {"days_ago": 7},
            },
            {"type": "computed_trait", "name": "favourite_category_90d", "op": "eq", "value": "x"},
        )
    ]
    assert said == [
        "did 'Visit' 2x in 3 of the last 4 complete weeks",
        "stopped 'Visit': did it but not since 30 days ago",
        "restarted 'Visit': did it since 2026-01-01, not from 60 days ago to 7 days ago, "
        "then again",
        "favourite_category_90d eq 'x'",
    ]

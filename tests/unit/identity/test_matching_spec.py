"""Comparison levels and blocking keys of probabilistic matching, without a database."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clientvault.identity.matching_spec import (
    COMPARISONS,
    blocking_keys,
    jaro_winkler,
    level_of,
    levenshtein,
    matching_record,
)
from clientvault.identity.matching_splink import shares_sql

_words = st.text(alphabet="abcdeilmnorstuxy -", min_size=0, max_size=12)


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:")


@given(left=_words, right=_words)
def test_jaro_winkler_is_duckdbs(duck: duckdb.DuckDBPyConnection, left: str, right: str) -> None:
    """Splink's SQL runs DuckDB's function; the incremental path must agree with it."""
    row = duck.execute("select jaro_winkler_similarity(?, ?)", [left, right]).fetchone()
    assert row is not None
    assert jaro_winkler(left, right) == pytest.approx(row[0], abs=1e-9)


@given(left=_words, right=_words)
def test_levenshtein_is_duckdbs(duck: duckdb.DuckDBPyConnection, left: str, right: str) -> None:
    row = duck.execute("select levenshtein(?, ?)", [left, right]).fetchone()
    assert row is not None
    assert levenshtein(left, right) == row[0]


_keys = st.lists(st.sampled_from(["ext:ssn:ab12", "email:cd34", "phone:ef56", "ext:crm:07"]))


@given(left=_keys, right=_keys)
def test_shared_contested_values_are_found_as_duckdb_finds_them(
    duck: duckdb.DuckDBPyConnection, left: list[str], right: list[str]
) -> None:
    """The contested-identifier level: Splink's SQL and the incremental path agree."""
    comparison = next(c for c in COMPARISONS if c.column == "contested")
    one, other = _record(contested=left), _record(contested=right)
    row = duck.execute(
        f"select coalesce({shares_sql('?', '?')}, false)", [one["contested"], other["contested"]]
    ).fetchone()
    assert row is not None
    label = comparison.levels[level_of(comparison, one, other)].label
    assert (label == "shares an identifier value that hit its limit") == row[0]
    assert row[0] == bool(set(left) & set(right))


def _record(**values: object) -> dict[str, str | None]:
    base = {
        "first_name": "Léa",
        "last_name": "Martin",
        "email": "lea.martin@example.com",
        "phone": "+33612345678",
        "birth_date": "1990-04-01",
        "postal_code": "69003",
        "city": "Lyon",
        "street": "12 rue de la Paix",
        "external_id": None,
    }
    return matching_record(**{**base, **values})  # type: ignore[arg-type]


def _label(name: str, left: dict[str, str | None], right: dict[str, str | None]) -> str:
    comparison = next(c for c in COMPARISONS if c.name == name)
    return comparison.levels[level_of(comparison, left, right)].label


def test_levels_are_picked_most_specific_first() -> None:
    lea = _record()
    assert _label("first_name", lea, _record(first_name="LEA")) == "exact"  # folded
    assert _label("first_name", lea, _record(first_name=None)) == "missing"
    assert _label("last_name", lea, _record(last_name="Martinn")) == "similarity >= 0.92"
    assert _label("last_name", lea, _record(last_name="Dupont")) == "different"
    swapped = _record(first_name="Martin", last_name="Léa")
    assert _label("first_name", lea, swapped) == "swapped with last_name"
    other_domain = _record(email="lea.martin+shop@example.org")
    assert _label("email", lea, other_domain) == "same mailbox name"
    assert _label("birth_date", lea, _record(birth_date="1990-04-07")) == "edit distance <= 1"
    assert _label("postcode", lea, _record(postal_code="69 003")) == "exact"
    assert _label("external_id", lea, _record()) == "missing"


def test_blocking_keys_survive_a_typo_in_any_one_field() -> None:
    lea = blocking_keys(_record())
    for change in (
        {"last_name": "Martn"},
        {"first_name": "Lia"},
        {"birth_date": "1990-04-02"},
        {"postal_code": "69004"},
        {"first_name": "Martin", "last_name": "Léa"},
    ):
        other = blocking_keys(_record(**change))
        assert set(lea.items()) & set(other.items()), change


def test_missing_parts_give_no_key() -> None:
    keys = blocking_keys(_record(birth_date=None, email=None))
    assert not {"name_year", "email", "birth_initials"} & set(keys)
    assert keys["names"] == "lea|martin"

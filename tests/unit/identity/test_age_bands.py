"""Age bands: the band of the exact age, computed from birth year and birthday (MM-DD)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clientvault.identity.age_bands import age_band

LIMITS = [(0, "under 18"), (18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-54")]
LIMITS += [(55, "55-64"), (65, "65+")]


def _expected(age: int) -> str:
    return [label for lowest, label in LIMITS if age >= lowest][-1]


@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)),
    today=st.dates(min_value=date(1900, 1, 1), max_value=date(2035, 12, 31)),
)
def test_the_band_is_that_of_the_exact_age(born: date, today: date) -> None:
    if today < born:
        today, born = born, today
    exact = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    assert age_band(born.year, born.strftime("%m-%d"), today) == _expected(exact)


@pytest.mark.parametrize(
    ("today", "band"),
    [(date(2026, 3, 14), "18-24"), (date(2026, 3, 15), "25-34"), (date(2026, 12, 31), "25-34")],
)
def test_the_band_changes_on_the_birthday(today: date, band: str) -> None:
    assert age_band(2001, "03-15", today) == band


def test_without_a_birthday_the_age_reached_this_year_counts() -> None:
    assert age_band(2001, None, date(2026, 1, 1)) == "25-34"
    assert age_band(None, "03-15", date(2026, 1, 1)) is None

"""Age bands: what staff see of a customer's age instead of their birth year and birthday.

The profile keeps ``birth_year`` and ``birthday`` (MM-DD) in the clear for segmentation and
the automation engine (birthday campaigns), but together they rebuild the exact birth date,
which is a sealed identifier: read schemas (API, console) show an age band instead, and the
exact date leaves only through the audited reveal path (``birth_date``).
"""

from __future__ import annotations

from datetime import date

#: Upper bounds (exclusive) of the bands and their labels; 65 and over is the last one.
_BANDS = (
    (18, "under 18"),
    (25, "18-24"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
    (65, "55-64"),
)
_OLDEST = "65+"


def age_band(birth_year: int | None, birthday: str | None, today: date) -> str | None:
    """The band of the age on ``today``; with no birthday (MM-DD) known, the age reached in
    ``today``'s year. ``None`` without a birth year."""
    if birth_year is None:
        return None
    age = today.year - birth_year
    if birthday is not None and today.strftime("%m-%d") < birthday:
        age -= 1  # this year's birthday is still to come
    return next((label for upper, label in _BANDS if age < upper), _OLDEST)

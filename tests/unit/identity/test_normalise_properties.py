"""Property tests of identifier normalisation: canonical, idempotent, clear errors."""

from __future__ import annotations

import contextlib

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clientvault.errors import InvalidInput
from clientvault.identity.normalise import normalise_country, normalise_email, normalise_phone

LOCAL = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
    min_size=1,
    max_size=30,
).filter(lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)


@given(LOCAL, st.sampled_from(["example.com", "Example.ORG", "sub.example.net"]))
def test_email_is_lower_cased_and_idempotent(local: str, domain: str) -> None:
    try:
        canonical = normalise_email(f"  {local}@{domain} ")
    except InvalidInput:
        return  # some generated local parts are invalid by RFC; they must fail cleanly
    assert canonical == canonical.lower()
    assert canonical.strip() == canonical
    assert normalise_email(canonical) == canonical
    assert normalise_email(canonical.upper()) == canonical


@given(st.integers(min_value=0, max_value=10**8 - 1), st.sampled_from(["06", "+336", "0033 6"]))
def test_french_mobiles_in_any_format_give_one_e164_or_one_clear_refusal(
    number: int, prefix: str
) -> None:
    digits = f"{number:08d}"
    spaced = " ".join(digits[i : i + 2] for i in range(0, 8, 2))
    allocated = phonenumbers.is_valid_number(phonenumbers.parse(f"+336{digits}"))
    if not allocated:  # a range not allocated: every spelling is refused the same way
        with pytest.raises(InvalidInput, match="not a valid number"):
            normalise_phone(f"{prefix}{spaced}", default_region="FR")
        return
    canonical = normalise_phone(f"{prefix}{spaced}", default_region="FR")
    assert canonical == f"+336{digits}"
    assert normalise_phone(canonical, default_region="DE") == canonical


@given(st.text(max_size=20))
def test_garbage_never_raises_anything_but_invalid_input(text: str) -> None:
    for normalise in (
        normalise_email,
        lambda v: normalise_phone(v, default_region="FR"),
        normalise_country,
    ):
        with contextlib.suppress(InvalidInput):
            normalise(text)


def test_countries_by_code_or_name() -> None:
    assert normalise_country("fr") == "FR"
    assert normalise_country("DEU") == "DE"
    assert normalise_country("Spain") == "ES"
    with pytest.raises(InvalidInput):
        normalise_country("Atlantis")

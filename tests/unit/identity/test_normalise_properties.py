"""Property tests of identifier normalisation: canonical, idempotent, clear errors."""

from __future__ import annotations

import contextlib

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
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


def _by_library(text: str) -> str | None:
    """What the whole of email-validator answers (the normalised address, lower-cased)."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def _ours(text: str) -> str | None:
    try:
        return normalise_email(text)
    except InvalidInput:
        return None


ATEXT = "abcXYZ019._+-!#$%&'*/=?^`{|}~\"@ ()<>[]\\,;:é\u0338"
DOMAIN = st.one_of(
    st.sampled_from(
        [
            "example.com",
            "EXAMPLE.COM",
            "xn--bcher-kva.de",
            "localhost",
            "a.test",
            "1.2.3.4",
            "a..b.com",
            "-a.com",
            "a-.com",
            "[127.0.0.1]",
            "bücher.de",
            "x" * 64 + ".com",
            "a." * 120 + "com",
        ]
    ),
    st.text(alphabet="abz09.-", min_size=1, max_size=70),
)


@settings(max_examples=400)
@given(st.text(alphabet=ATEXT, max_size=80), DOMAIN)
def test_the_fast_ascii_path_answers_as_email_validator_does(local: str, domain: str) -> None:
    # normalise_email answers the common ASCII address without the whole library
    # (identity.normalise._ascii_email): it must accept, refuse and normalise exactly as it.
    for text in (f"{local}@{domain}", f" {local.upper()}@{domain} ", local):
        assert _ours(text) == _by_library(text)

"""Names and e-mail hints as the customer list stores them (``identity.normalise``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clientvault.identity.normalise import EMAIL_HINT_LENGTH, email_hint, normalise_name


def test_spellings_of_one_name_normalise_alike() -> None:
    assert normalise_name("Zoé  O'Brien-Smith") == "zoe o brien smith"
    assert normalise_name("ZOE o brien smith") == "zoe o brien smith"
    assert normalise_name("Müller") == normalise_name("MULLER") == "muller"
    assert normalise_name("Straße") == "strasse"
    assert normalise_name(" -- ") == ""


@given(st.text(max_size=60))
def test_normalising_is_idempotent_and_leaves_only_words(text: str) -> None:
    once = normalise_name(text)
    assert normalise_name(once) == once
    assert once == " ".join(once.split())
    assert all(c.isalnum() or c == " " for c in once)


def test_an_email_hint_keeps_the_first_character_and_the_domain() -> None:
    assert email_hint("robert@example.com") == "r\u2022\u2022\u2022@example.com"
    assert email_hint("a@b.fr") == "a\u2022\u2022\u2022@b.fr"


@given(st.emails())
def test_an_email_hint_never_holds_more_of_the_address(address: str) -> None:
    hint = email_hint(address)
    local, _, domain = address.rpartition("@")
    assert len(hint) <= EMAIL_HINT_LENGTH
    assert hint == f"{local[:1]}\u2022\u2022\u2022@{domain}"[:EMAIL_HINT_LENGTH]

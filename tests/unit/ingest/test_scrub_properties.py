"""Property tests of the scrubber: planted personal data never survives, other text does."""

from __future__ import annotations

import json
import random
import string

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from clientvault.ingest.identity_keys import identity_kind
from clientvault.ingest.scrub import (
    _MAYBE,
    Scrubber,
    iban_valid,
    keyed_hasher,
    luhn_valid,
    might_hold_pii,
    truncate_ip,
)
from clientvault.store.engine import json_serializer

KEY = b"k" * 32
WORDS = st.text(alphabet=string.ascii_letters + " ,.;:!?-", max_size=40)
#: Keys that name no identifier (``recipient_name`` would have its value replaced whatever it is).
_PLAIN_KEYS = WORDS.filter(lambda key: identity_kind(key, person=False) is None)


def _card(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(15)]
    for check in range(10):
        if luhn_valid("".join(map(str, [*digits, check]))):
            return "".join(map(str, [*digits, check]))
    raise AssertionError("a Luhn check digit always exists")


def _json_containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=6), children, max_size=4
    )


def _scrubber() -> Scrubber:
    return Scrubber(keyed_hasher(KEY), default_region="FR")


@given(WORDS, WORDS, st.integers(min_value=0, max_value=10**8 - 1), st.randoms())
@settings(max_examples=200)
def test_planted_identifiers_never_survive(
    before: str, after: str, number: int, rng: random.Random
) -> None:
    email = f"user{number}@example.org"
    phone = f"+33 6 {number:08d}"[:17]
    card = _card(rng)
    text = f"{before} {email} {after} {phone} {card} {before}"
    scrubber = _scrubber()
    scrubbed = scrubber.scrub({"note": text, "nested": [{"again": email}]})
    flat = repr(scrubbed)
    assert email not in flat
    assert card not in flat
    assert phone not in flat
    assert scrubber.counts["email"] == 2
    assert scrubber.counts["card"] == 1
    assert scrubber.counts["phone"] == 1


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=False) | WORDS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_PLAIN_KEYS, inner, max_size=4),
        max_leaves=20,
    )
)
def test_values_without_personal_data_are_untouched(value: object) -> None:
    scrubber = _scrubber()
    assert scrubber.scrub(value) == value
    assert not scrubber.counts


@given(st.text(max_size=60))
def test_scrubbing_never_raises_and_is_idempotent(text: str) -> None:
    once = _scrubber().scrub(text)
    assert _scrubber().scrub(once) == once


def test_same_value_gets_the_same_keyed_hash_and_another_key_another() -> None:
    a = _scrubber().scrub("mail bob@example.org")
    assert a == _scrubber().scrub("mail BOB@example.org")
    other = Scrubber(keyed_hasher(b"x" * 32), default_region="FR").scrub("mail bob@example.org")
    assert a != other
    assert "bob" not in a


def test_checksums_and_ip_truncation() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("FR1420041010050500013M02606")
    assert not iban_valid("FR1420041010050500013M02607")
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::"
    assert truncate_ip("not an ip") is None


@given(st.integers(min_value=0, max_value=10**9))
def test_replacement_tokens_hold_no_digits_so_they_are_never_rescrubbed(number: int) -> None:
    scrubbed = _scrubber().scrub(f"user{number}@example.org and 4111 1111 1111 1111")
    assert scrubbed.count("[") == 2
    assert not any(char.isdigit() for char in scrubbed)


#: The characters the scrubber's patterns care about, and a few they don't.
_PATTERN_TEXT = st.text(alphabet='ab@AZ0159 .-()x",\\\n{}', max_size=40)


@given(_PATTERN_TEXT)
@settings(max_examples=500)
def test_the_document_filter_agrees_with_the_per_string_pattern(text: str) -> None:
    assert might_hold_pii(text.encode()) == bool(_MAYBE.search(text))


#: What JSON (and so orjson) can hold: integers up to 64 bits.
_JSON_INTEGERS = st.integers(min_value=-(2**63), max_value=2**64 - 1)


@given(st.recursive(st.none() | _JSON_INTEGERS | _PATTERN_TEXT, _json_containers, max_leaves=12))
@settings(max_examples=300)
def test_a_document_the_filter_passes_needs_no_scrubbing(document: object) -> None:
    # The filter sees the serialised document; walking it string by string must agree.
    walked = _scrubber()._walk(document)
    assert _scrubber().scrub(document) == walked
    if walked != document:
        assert might_hold_pii(orjson.dumps(document))


@given(
    st.dictionaries(
        _PATTERN_TEXT,
        st.recursive(
            st.none() | st.integers(min_value=-(2**70), max_value=2**70) | _PATTERN_TEXT,
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(_PATTERN_TEXT, children, max_size=3)
            ),
            max_leaves=12,
        ),
        max_size=4,
    )
)
@settings(max_examples=300)
def test_the_stored_json_text_is_the_scrubbed_document(document: dict[str, object]) -> None:
    # What an event stores: one serialisation serves the filter and the column when clean.
    via_text, via_walk = _scrubber(), _scrubber()
    text, expected = via_text.scrub_to_json(document), via_walk.scrub(document)
    assert json.loads(text) == expected
    assert text == json_serializer(expected)
    assert via_text.counts == via_walk.counts

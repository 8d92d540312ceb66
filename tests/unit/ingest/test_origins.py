"""Website origins of a tracking source: normalised as browsers serialise them, checked
against the ``Origin`` header of a call."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clientvault.errors import InvalidInput
from clientvault.ingest.origins import (
    MAX_ORIGINS,
    normalise_origin,
    normalise_origins,
    origin_allowed,
)

_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_HOST = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
_SCHEME = st.sampled_from(["http", "https"])
_PORT = st.none() | st.integers(min_value=1, max_value=65535)


def _origin(scheme: str, host: str, port: int | None) -> str:
    return f"{scheme}://{host}" + ("" if port is None else f":{port}")


@pytest.mark.parametrize(
    ("given_text", "expected"),
    [
        ("https://shop.example.com", "https://shop.example.com"),
        ("  HTTPS://Shop.Example.COM/  ", "https://shop.example.com"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("http://shop.example.com:80", "http://shop.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_origins_take_the_form_browsers_send(given_text: str, expected: str) -> None:
    assert normalise_origin(given_text) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "shop.example.com",
        "ftp://shop.example.com",
        "https://shop.example.com/checkout",
        "https://shop.example.com?x=1",
        "https://shop.example.com#top",
        "https://user:pw@shop.example.com",
        "https://shop.example.com:99999",
        "null",
        "*",
    ],
)
def test_anything_but_an_origin_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match=r"scheme://host\[:port\]"):
        normalise_origin(bad)


@given(scheme=_SCHEME, host=_HOST, port=_PORT)
def test_normalising_is_idempotent_and_a_listed_origin_is_allowed(
    scheme: str, host: str, port: int | None
) -> None:
    text = _origin(scheme, host, port)
    once = normalise_origin(text.upper())
    assert normalise_origin(once) == once
    assert origin_allowed([once], text)
    assert origin_allowed([once], None)  # not a browser call
    assert origin_allowed([], text)  # no list: any origin
    assert not origin_allowed([once], _origin(scheme, "other-" + host, port))
    other_scheme = "https" if scheme == "http" else "http"
    assert not origin_allowed([once], _origin(other_scheme, host, port))


@given(st.text(max_size=40))
def test_any_header_value_is_answered_without_error(header: str) -> None:
    assert origin_allowed(["https://shop.example.com"], header) in (True, False)
    assert not origin_allowed(["https://shop.example.com"], "null")


def test_a_list_keeps_its_order_without_duplicates_and_has_a_limit() -> None:
    assert normalise_origins(
        ["https://b.example.com", "https://B.example.com/", "https://a.example.com"]
    ) == [
        "https://b.example.com",
        "https://a.example.com",
    ]
    with pytest.raises(InvalidInput, match="at most"):
        normalise_origins([f"https://s{n}.example.com" for n in range(MAX_ORIGINS + 1)])

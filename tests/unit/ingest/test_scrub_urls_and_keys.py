"""Property tests of URL and identity-key scrubbing: an e-mail address, however it is
percent-encoded and wherever it sits in a URL, never survives; only allow-listed query
parameters do; a key naming a person's identifier never keeps its value."""

from __future__ import annotations

import string
from urllib.parse import quote, unquote

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from clientvault.ingest.identity_keys import identity_kind
from clientvault.ingest.scrub import Scrubber, keyed_hasher, might_hold_pii
from clientvault.ingest.urls import decoded

KEY = b"u" * 32
_LOCAL = st.text(alphabet=string.ascii_letters + string.digits + "._+-", min_size=1, max_size=12)
_LABEL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
EMAILS = st.builds(
    lambda local, host, tld: f"{local}@{host}.{tld}",
    _LOCAL.filter(lambda s: s[0] not in "._+-" and s[-1] not in "._+-"),
    _LABEL,
    st.sampled_from(["example.org", "example.com", "invalid"]),
)
#: Ways a URL may carry the text: as it is, %40 for the @, every byte encoded, twice encoded.
ENCODINGS = st.sampled_from(["plain", "at", "all", "twice"])
#: Where in a URL it sits.
PLACES = st.sampled_from(
    ["path", "kept_parameter", "dropped_parameter", "fragment", "fragment_parameter", "userinfo"]
)
WORD = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)


def _encoded(text: str, how: str) -> str:
    if how == "plain":
        return text
    if how == "at":
        return text.replace("@", "%40")
    every = "".join(f"%{byte:02X}" for byte in text.encode())
    return every if how == "all" else every.replace("%", "%25")


def _url(email: str, how: str, place: str, word: str) -> str:
    value = _encoded(email, how)
    base = "https://shop.example.com"
    return {
        "path": f"{base}/{word}/{value}/orders?utm_source={word}",
        "kept_parameter": f"{base}/{word}?utm_campaign={value}&page=2",
        "dropped_parameter": f"{base}/{word}?email={value}&utm_medium=mail",
        "fragment": f"{base}/{word}#{value}",
        "fragment_parameter": f"{base}/{word}#access_token={word}&login_hint={value}",
        "userinfo": f"https://{value.replace('@', '%40')}:{word}@shop.example.com/{word}",
    }[place]


def _scrubber() -> Scrubber:
    return Scrubber(keyed_hasher(KEY), default_region="FR")


@given(EMAILS, ENCODINGS, PLACES, WORD, st.sampled_from(["url", "text", "page"]))
@settings(max_examples=400)
def test_an_email_anywhere_in_a_url_never_survives(
    email: str, how: str, place: str, word: str, container: str
) -> None:
    url = _url(email, how, place, word)
    document = {
        "url": {"page": {"url": url}},
        "text": {"note": f"see {url} now"},
        "page": {"page": {"path": url.removeprefix("https://shop.example.com")}},
    }[container]
    scrubbed = repr(_scrubber().scrub(document))
    for form in (scrubbed, unquote(scrubbed), decoded(scrubbed)):
        assert email.lower() not in form.lower()


@given(WORD, WORD, WORD)
def test_only_allow_listed_parameters_are_kept_and_the_rest_counted(
    path: str, source: str, secret: str
) -> None:
    scrubber = _scrubber()
    url = f"https://shop.example.com/{path}?utm_source={source}&token={secret}x&Page=3#id_token={secret}y"
    cleaned = scrubber.scrub({"url": url})["url"]
    assert cleaned == f"https://shop.example.com/{path}?utm_source={source}&Page=3"
    assert scrubber.counts["url_parameter"] == 2
    search = scrubber.scrub({"search": f"?token={secret}x&utm_term={source}"})["search"]
    assert search == f"?utm_term={source}"


def test_the_allow_list_is_configurable() -> None:
    scrubber = Scrubber(keyed_hasher(KEY), default_region="FR", url_parameters=["q", "gclid"])
    cleaned = scrubber.scrub({"u": "https://x.example.com/s?q=mugs&gclid=abc&utm_source=n"})
    assert cleaned == {"u": "https://x.example.com/s?q=mugs&gclid=abc"}


_SPELLINGS = st.sampled_from(
    [
        "name",
        "firstName",
        "first_name",
        "LastName",
        "last-name",
        "username",
        "userName",
        "email",
        "E-Mail",
        "phone",
        "phoneNumber",
        "address",
        "birthday",
        "dateOfBirth",
        "avatar",
        "recipient_name",
        "customerEmail",
        "billing_phone",
        "shippingAddress",
        "contact_full_name",
    ]
)
_VALUES = st.text(alphabet=string.ascii_letters + " -'", min_size=3, max_size=20).filter(
    lambda s: s.strip() and len(s.strip()) >= 3
)


@given(_SPELLINGS, _VALUES)
def test_a_key_naming_an_identifier_never_keeps_its_value(key: str, value: str) -> None:
    scrubber = _scrubber()
    # A person's traits at the top; deeper down, a key naming someone else's identifier.
    nested = [{"recipient_name": {"line1": value}}]
    scrubbed = scrubber.scrub({key: value, "nested": nested}, person=True)
    assert value not in repr(scrubbed)
    assert sum(scrubber.counts.values()) == 2


def test_a_bare_name_is_a_persons_only_among_their_traits() -> None:
    # Segment's e-commerce and page specs use ``name`` for the product and the page.
    properties = {"name": "Blue Mug", "products": [{"name": "Red Mug"}], "plan": "gold"}
    assert _scrubber().scrub(properties) == properties
    assert identity_kind("name", person=True) == "name"
    for key in ("product_name", "page_name", "event_name", "ip_address", "hostname", "title"):
        assert identity_kind(key, person=False) is None, key
    assert "Ann" not in repr(_scrubber().scrub({"name": "Ann Lee"}, person=True))


def test_the_testers_url_and_search_lose_the_email() -> None:
    page = {
        "url": "https://shop.example.com/p?email=zq%40example.org&token=abcdef&utm_source=x",
        "search": "?email=zq%40example.org",
        "path": "/u/zq%40example.org",
    }
    scrubbed = _scrubber().scrub({"page": page})["page"]
    assert scrubbed["url"] == "https://shop.example.com/p?utm_source=x"
    assert scrubbed["search"] == ""
    assert scrubbed["path"].startswith("/u/[email:")
    assert quote("zq@example.org") not in repr(scrubbed)


_KEY_PARTS = st.sampled_from(
    [
        "",
        "recipient",
        "billing",
        "home",
        "product",
        "page",
        "first",
        "last",
        "user",
        "e",
        "date of",
        "mobile",
    ]
)
_KEY_ENDS = st.sampled_from(
    [
        "name",
        "email",
        "mail",
        "phone",
        "phone number",
        "address",
        "street",
        "birthday",
        "birth date",
        "dob",
        "avatar",
        "login",
        "handle",
        "tel",
        "surname",
        "title",
        "id",
    ]
)
_STYLES = st.sampled_from(["snake", "camel", "kebab", "upper", "space"])


def _styled(words: list[str], style: str) -> str:
    words = [w for part in words for w in part.split()]
    if style == "camel":
        return words[0] + "".join(w.title() for w in words[1:]) if words else ""
    joiner = {"snake": "_", "kebab": "-", "upper": "_", "space": " "}[style]
    text = joiner.join(words)
    return text.upper() if style == "upper" else text


@given(_KEY_PARTS, _KEY_ENDS, _STYLES, st.text(max_size=12))
def test_the_pre_filter_never_skips_a_key_naming_an_identifier(
    part: str, end: str, style: str, value: str
) -> None:
    key = _styled([part, end], style)
    if identity_kind(key, person=False) is not None and value.strip():
        assert might_hold_pii(orjson.dumps({"outer": [{key: value}]}))

"""Scrubbing URLs in events: decoded before scrubbing, query strings cut to an allow-list.

A page URL carries what a form or a link put in it: ``?email=zq%40example.org``, a password
reset token, a name in a path. Percent-encoding hides an e-mail address from the text
patterns, so every part is decoded (repeatedly: redirect parameters are often encoded twice)
before it is scrubbed. Query parameters are kept only if their name is on the allow-list
(``privacy.url_parameters``: campaign tags and the like), their values scrubbed too; the
rest are dropped and counted, as are user names and passwords before the host. A fragment
that reads as parameters (``#access_token=…``) is filtered the same way.

The standard library's ``urllib.parse`` splits and decodes; only the policy is ours.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

#: URLs inside free text (absolute, or starting with ``www.``).
URL_IN_TEXT = re.compile(r"(?i)\b(?:https?://|www\.)[^\s\"'<>]+")
_DECODING_ROUNDS = 3
#: Characters left as they are when a scrubbed part is encoded again: reserved characters
#: that were literal, and the brackets of scrubbing tokens (``[email:…]``).
_SAFE = "/[]:@!$&'()*+,;=~"

Scrub = Callable[[str], str]


def decoded(text: str) -> str:
    """``text`` percent-decoded until it no longer changes (at most three rounds)."""
    for _ in range(_DECODING_ROUNDS):
        once = unquote(text)
        if once == text:
            break
        text = once
    return text


def clean_url(url: str, *, keep: Callable[[str], bool], scrub: Scrub) -> tuple[str, int]:
    """A URL (absolute, or a path with a query) with its parts decoded and scrubbed, the
    query cut to the parameters ``keep`` accepts, without credentials; and how many
    parameters (or credentials) were dropped."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: keep nothing after the host
        return scrub(decoded(url.split("?", 1)[0].split("#", 1)[0])), 1
    host = parts.netloc.rpartition("@")
    dropped = 1 if host[1] else 0
    path = quote(scrub(decoded(parts.path)), safe=_SAFE)
    query, cut = clean_query(parts.query, keep=keep, scrub=scrub)
    fragment, cut_in_fragment = _clean_fragment(parts.fragment, keep=keep, scrub=scrub)
    cleaned = urlunsplit((parts.scheme, host[2], path, query, fragment))
    return cleaned, dropped + cut + cut_in_fragment


def clean_query(query: str, *, keep: Callable[[str], bool], scrub: Scrub) -> tuple[str, int]:
    """A query string (without its ``?``) cut to the parameters ``keep`` accepts, their
    values decoded and scrubbed; and how many parameters were dropped."""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(scrub(name), scrub(decoded(value))) for name, value in pairs if keep(name)]
    return urlencode(kept, quote_via=quote, safe="[]:"), len(pairs) - len(kept)


def _clean_fragment(fragment: str, *, keep: Callable[[str], bool], scrub: Scrub) -> tuple[str, int]:
    """A fragment: a route (``#/orders/12``), parameters (``#access_token=…``: an OAuth
    token, a single-page app's state) or both (``#/search?q=…``)."""
    if "?" in fragment:
        route, _, parameters = fragment.partition("?")
    elif "=" in fragment:
        route, parameters = "", fragment
    else:
        route, parameters = fragment, ""
    route = quote(scrub(decoded(route)), safe=_SAFE)
    if not parameters:
        return route, 0
    query, cut = clean_query(parameters, keep=keep, scrub=scrub)
    return (f"{route}?{query}" if route else query), cut

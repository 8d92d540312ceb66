"""The website origins allowed to call the tracking API with a source's write key (CORS).

A write key is public: it sits in every page that loads the SDK. A source's origin list
makes such a key useless from other websites' pages: a browser call carrying the key is
refused when its ``Origin`` is not on the list. An empty list allows any origin (the
default, as write keys are meant to be public). Calls without an ``Origin`` header (server
SDKs, curl) are not browser calls and are not checked: the list is a browser-side control,
not authentication.

Origins are compared in their serialised form (RFC 6454 §6.2), which is what browsers send:
``scheme://host[:port]``, lower case, the scheme's default port left out, no path.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from clientvault.errors import InvalidInput

MAX_ORIGINS = 50
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(text: str) -> str:
    """The serialised form of a website origin (``https://shop.example.com``); refuses
    anything else (a path, a query, credentials, another scheme) with a clear error."""
    raw = text.strip()
    invalid = InvalidInput(
        "an origin is scheme://host[:port] with http or https and no path, "
        "e.g. https://shop.example.com",
        details={"field": "origin"},
    )
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise invalid from None
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or len(raw) > 255
    ):
        raise invalid
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets in an origin
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalise_origins(texts: Iterable[str]) -> list[str]:
    """A source's origin list: each origin normalised, duplicates dropped, order kept."""
    origins = list(dict.fromkeys(normalise_origin(text) for text in texts))
    if len(origins) > MAX_ORIGINS:
        raise InvalidInput(
            f"a source allows at most {MAX_ORIGINS} origins", details={"field": "origin"}
        )
    return origins


def origin_allowed(allowed: Iterable[str], origin: str | None) -> bool:
    """Whether a call from ``origin`` (its ``Origin`` header, ``None`` when absent) may use a
    source whose list is ``allowed`` (stored normalised; empty: any origin)."""
    listed = tuple(allowed)
    if origin is None or not listed or origin in listed:  # browsers send the serialised form
        return True
    try:
        return normalise_origin(origin) in listed
    except InvalidInput:  # "null" (sandboxed frames, file: pages) or garbage
        return False

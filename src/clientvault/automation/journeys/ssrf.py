"""Where a journey's webhook may POST: public addresses only, unless allowed.

A webhook URL is typed by a marketer, and the worker calls it from inside the installation's
network, so it must not reach what only that network can (the database, a cloud metadata
service at 169.254.169.254, an admin port on localhost): server-side request forgery. The
host is resolved and *every* address it resolves to must be public (``is_global``, not
multicast), or inside ``automation.webhook_allowed_networks``; the connection is then made to
the address that was checked (the host name still goes in ``Host`` and in TLS's SNI and
certificate check), so a DNS answer that changes between the check and the call (rebinding)
cannot redirect it. Redirects are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The prefix of a webhook call's ``last_error`` when its destination was refused.
REFUSED = "refused:"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(Exception):
    """The URL's host is, or resolves to, an address webhooks may not call."""


@dataclass(frozen=True)
class Destination:
    """A checked webhook destination: the address to connect to and what to ask it."""

    scheme: str
    host: str
    port: int
    #: Every address the host resolved to (all checked), tried in order.
    addresses: tuple[str, ...]
    path: str

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """An HTTP(S) connection to the checked address, speaking to ``host``."""
        if self.scheme == "https":
            return _PinnedHTTPS(self.host, self.port, self.addresses, timeout)
        return _PinnedHTTP(self.host, self.port, self.addresses, timeout)


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a fixed address; ``Host`` still names the host."""

    def __init__(self, host: str, port: int, addresses: tuple[str, ...], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        """Connect to a checked address rather than resolving the host again."""
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with SNI and the certificate checked for the host name."""

    def __init__(self, host: str, port: int, addresses: tuple[str, ...], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._addresses = addresses

    def connect(self) -> None:
        """Connect to a checked address rather than resolving the host again."""
        sock = _connect(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _connect(addresses: tuple[str, ...], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first of ``addresses`` that answers."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error


def allowed(address: Address, networks: Sequence[Network]) -> bool:
    """Whether webhooks may call ``address``: a public one, or one in ``networks``."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if any(address in network for network in networks):
        return True
    return address.is_global and not address.is_multicast


def destination(url: str, networks: Sequence[Network]) -> Destination:
    """The checked destination of ``url``; ``RefusedDestination`` when it is not http(s) or
    any address of its host is not allowed, ``OSError`` when the host does not resolve."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedDestination("only http and https URLs")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise OSError("the host has no address")
    for address in addresses:
        if not allowed(address, networks):
            raise RefusedDestination(f"{address} is a private, loopback or link-local address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    unique = tuple(dict.fromkeys(str(a) for a in addresses))
    return Destination(parts.scheme, parts.hostname, port, unique, path)


def check_saved_url(url: str, networks: Sequence[Network]) -> None:
    """Refuse, when a journey is saved, a webhook URL its calls would be refused: not http(s),
    a literal address that is not allowed, ``localhost`` (unless an allowed network holds a
    loopback address), or a host name that resolves now to an address that is not allowed
    (``RefusedDestination``). A name that does not resolve at save time (no network, DNS not
    set up yet) is accepted: the check made at every call (``destination``) is the guard;
    this one tells the marketer early."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise RefusedDestination("only http and https URLs")
    if host == "localhost" or host.endswith(".localhost"):
        if not any(allowed(ipaddress.ip_address(a), networks) for a in ("127.0.0.1", "::1")):
            raise RefusedDestination(f"{host} is a loopback address")
        return
    try:
        destination(url, networks)  # a literal address is checked without any lookup
    except ValueError:
        raise RefusedDestination("the URL's port is not a number from 0 to 65535") from None
    except OSError:
        return  # does not resolve now: checked again at every call

"""Webhook destinations (SSRF): every address a host resolves to must be public unless an
allowed network holds it; the connection goes to the address that was checked."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from clientvault.automation.journeys.ssrf import RefusedDestination, allowed, destination

PRIVATE = (
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.9",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_loopback_and_link_local_addresses_are_refused(address: str) -> None:
    assert not allowed(ipaddress.ip_address(address), [])


def test_public_addresses_and_allowed_networks_pass() -> None:
    assert allowed(ipaddress.ip_address("93.184.216.34"), [])
    assert allowed(ipaddress.ip_address("2606:2800:220:1::1"), [])
    loopback = [ipaddress.ip_network("127.0.0.0/8")]
    assert allowed(ipaddress.ip_address("127.0.0.1"), loopback)
    assert allowed(ipaddress.ip_address("::ffff:127.0.0.1"), loopback)
    assert not allowed(ipaddress.ip_address("10.0.0.1"), loopback)


def _resolving(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    """Make every host resolve to ``addresses`` (the resolver stands in for DNS)."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_host_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolving(monkeypatch, "93.184.216.34", "10.0.0.5")  # one public, one private
    with pytest.raises(RefusedDestination, match=r"10\.0\.0\.5"):
        destination("https://hooks.example.com/in", [])
    _resolving(monkeypatch, "93.184.216.34", "2606:2800:220:1::1")
    checked = destination("https://hooks.example.com:8443/in?x=1", [])
    assert checked.addresses == ("93.184.216.34", "2606:2800:220:1::1")
    assert (checked.host, checked.port, checked.path) == ("hooks.example.com", 8443, "/in?x=1")


def test_literal_addresses_and_other_schemes_are_refused() -> None:
    for url in (
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/",
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
    ):
        with pytest.raises(RefusedDestination):
            destination(url, [])

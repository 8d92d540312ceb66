"""TLS for real: ``clientvault init --self-signed`` makes a development certificate, and
``clientvault serve --tls-cert --tls-key`` (a subprocess on a free loopback port) answers
HTTPS that verifies against that certificate alone, with HSTS; plain HTTP gets no HSTS.

The server is the installed console script, as a developer runs it; the client trusts nothing
but the generated certificate (an ``ssl`` context loading it), so a wrong SAN, an expired
certificate or a key that does not match would all fail the handshake.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.errors import Conflict
from clientvault.http.headers import HSTS
from clientvault.security.certificates import CERT_FILE, KEY_FILE, create_self_signed

CLIENTVAULT = Path(sys.executable).parent / "clientvault"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installation made by ``clientvault init --self-signed`` (once for the module)."""
    data_dir = tmp_path_factory.mktemp("tls") / "install"
    result = CliRunner().invoke(app, ["init", "--data-dir", str(data_dir), "--self-signed"])
    assert result.exit_code == 0, result.output
    assert f"--tls-cert {data_dir / CERT_FILE}" in result.output
    return data_dir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    """A running ``clientvault serve`` and how to reach it."""

    url: str
    port: int
    verify: ssl.SSLContext | bool


def _serve(data_dir: Path, log: Path, *, tls: bool) -> Iterator[Served]:
    port = _free_port()
    command = [str(CLIENTVAULT), "serve", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--host", "127.0.0.1"]
    verify: ssl.SSLContext | bool = False
    if tls:
        command += ["--tls-cert", str(data_dir / CERT_FILE), "--tls-key", str(data_dir / KEY_FILE)]
        verify = ssl.create_default_context(cafile=str(data_dir / CERT_FILE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTVAULT_")}
    url = f"{'https' if tls else 'http'}://localhost:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx2.get(f"{url}/healthz", verify=verify, timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer in {START_TIMEOUT_S} s:\n{log.read_text()}")
            time.sleep(0.1)
        yield Served(url=url, port=port, verify=verify)
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def tls_server(installation: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(installation, tmp_path_factory.mktemp("logs") / "tls.log", tls=True)


@pytest.fixture(scope="module")
def plain_server(installation: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(installation, tmp_path_factory.mktemp("logs") / "plain.log", tls=False)


def test_self_signed_certificate_is_p256_for_loopback_for_one_year(installation: Path) -> None:
    cert_path, key_path = installation / CERT_FILE, installation / KEY_FILE
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert certificate.public_key() == key.public_key()

    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ip_address("127.0.0.1"),
        ip_address("::1"),
    ]
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=365) <= lifetime <= timedelta(days=365, minutes=10)
    assert certificate.not_valid_before_utc <= datetime.now(UTC)


def test_an_existing_certificate_is_never_overwritten(installation: Path) -> None:
    before = (installation / KEY_FILE).read_bytes()
    with pytest.raises(Conflict, match="exists already"):
        create_self_signed(installation)
    assert (installation / KEY_FILE).read_bytes() == before


def test_serve_answers_https_verified_against_the_generated_certificate(
    tls_server: Served,
) -> None:
    for host in ("localhost", "127.0.0.1"):  # the DNS name and the IP address SANs
        response = httpx2.get(f"https://{host}:{tls_server.port}/healthz", verify=tls_server.verify)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_hsts_is_sent_over_tls(tls_server: Served) -> None:
    for path in ("/healthz", "/console", "/api/openapi.json", "/t.js"):
        response = httpx2.get(tls_server.url + path, verify=tls_server.verify)
        assert response.headers.get("strict-transport-security") == HSTS, path
    assert "server" not in response.headers  # no software banner


def test_the_certificate_is_not_trusted_by_default(tls_server: Served) -> None:
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(tls_server.url + "/healthz", verify=ssl.create_default_context())


def test_plain_http_gets_no_hsts(plain_server: Served) -> None:
    response = httpx2.get(plain_server.url + "/healthz")
    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_huge_declared_body_is_refused_before_it_is_sent(tls_server: Served) -> None:
    """413 arrives while the client has sent only headers: the server never waits for (nor
    reads) the 100 MiB it was promised."""
    request = (
        "POST /api/v1/auth/login HTTP/1.1\r\n"
        f"Host: localhost:{tls_server.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    ).encode()
    assert isinstance(tls_server.verify, ssl.SSLContext)
    with (
        socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw,
        tls_server.verify.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        conn.sendall(request)
        head = conn.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413 "), head[:200]


def test_a_streamed_body_is_cut_off_past_the_limit(tls_server: Served) -> None:
    """Chunked (no Content-Length): the answer comes once a little over 1 MiB has arrived,
    long before the client would have finished its 32 MiB."""
    assert isinstance(tls_server.verify, ssl.SSLContext)
    chunk = b"x" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with (
        socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw,
        tls_server.verify.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        conn.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        head = b""
        while not head and sent < 32 * 1024 * 1024:
            try:
                conn.sendall(framed)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break  # the server answered and hung up: its answer is waiting to be read
            sent += len(chunk)
            head = _poll(conn)
        if not head:
            head = conn.recv(65536)
    assert head.startswith(b"HTTP/1.1 413 "), head[:200]
    assert sent < 16 * 1024 * 1024


def _poll(conn: ssl.SSLSocket) -> bytes:
    """Whatever the server has answered so far, without waiting."""
    conn.setblocking(False)
    try:
        return conn.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return b""
    finally:
        conn.settimeout(10)

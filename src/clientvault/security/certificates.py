"""A self-signed TLS certificate for development (``clientvault init --self-signed``).

The console's session cookie is ``__Host-`` and ``Secure``, so a browser only sends it over
HTTPS: a developer needs TLS on their own machine, without a certificate authority. This
module makes one certificate and its key with ``cryptography``:

* an EC P-256 key (small, fast, accepted by every current TLS stack), written PKCS#8 PEM with
  mode 0600 from the moment the file exists (``O_EXCL``, never ``chmod``-ed after), since
  whoever reads it can impersonate the server;
* subject alternative names for ``localhost``, ``127.0.0.1`` and ``::1`` (clients match the
  SAN, not the common name), ``serverAuth`` only, not a CA, valid one year.

It is a development aid: browsers will warn about it, and a real deployment uses a
certificate from its own CA or an ACME client (``serve --tls-cert --tls-key`` takes either).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from clientvault.errors import Conflict

CERT_FILE = "tls-cert.pem"
KEY_FILE = "tls-key.pem"
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
DEFAULT_DAYS = 365
#: Tolerates a client clock slightly behind ours on a freshly made certificate.
_BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class DevCertificate:
    """Where the certificate and key were written, and what a user should check."""

    cert_path: Path
    key_path: Path
    not_after: datetime
    sha256_fingerprint: str


def create_self_signed(
    directory: Path,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> DevCertificate:
    """Write ``tls-cert.pem`` and ``tls-key.pem`` (0600) into ``directory``; refuse to
    overwrite either, since a certificate may already be trusted or pinned somewhere."""
    if not hosts:
        raise ValueError("a certificate needs at least one host name or address")
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    for path in (cert_path, key_path):
        if path.exists():
            raise Conflict(f"{path} exists already; remove it to make a new certificate")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _build(key, hosts=hosts, days=days, now=now or datetime.now(UTC))
    _write_new(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        mode=0o600,
    )
    _write_new(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return DevCertificate(
        cert_path=cert_path,
        key_path=key_path,
        not_after=certificate.not_valid_after_utc,
        sha256_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
    )


def _build(
    key: ec.EllipticCurvePrivateKey, *, hosts: Sequence[str], days: int, now: datetime
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "clientvault development"),
            x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
        ]
    )
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write_new(path: Path, content: bytes, *, mode: int) -> None:
    """Create ``path`` with ``mode`` (O_EXCL: never through an existing file or symlink)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())

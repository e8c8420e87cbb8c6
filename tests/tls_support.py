"""Certificates made by the tests with ``cryptography``: a CA, a broker certificate for
127.0.0.1 and localhost, and client certificates (good, expired, from another CA).

Mosquitto reads them as the user it runs as: files are 0644 and folders traversable.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.UTC)


class Pair(msgspec.Struct, frozen=True):
    cert_pem: str
    key_pem: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class Authority:
    """A CA that signs broker and client certificates."""

    def __init__(self, name: str = "sitelink test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str, *, server: bool = False, expired: bool = False) -> Pair:
        key = ec.generate_private_key(ec.SECP256R1())
        start, end = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30)
        if expired:
            start, end = NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=2)
        builder = (
            x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(self.name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
        )
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Pair(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def write_readable(folder: Path, name: str, text: str) -> Path:
    """A file Mosquitto can read after dropping root."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    path = folder / name
    path.write_text(text)
    path.chmod(0o644)
    return path


def mtls_listener(folder: Path, port: int, ca: Authority, server: Pair) -> list[str]:
    """Mosquitto configuration of a TLS listener that requires a client certificate."""
    return [
        f"listener {port} 127.0.0.1",
        f"cafile {write_readable(folder, 'ca.pem', ca.pem)}",
        f"certfile {write_readable(folder, 'server.pem', server.cert_pem)}",
        f"keyfile {write_readable(folder, 'server.key', server.key_pem)}",
        "require_certificate true",
    ]

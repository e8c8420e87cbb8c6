"""Checks of the PEM texts a site carries for TLS: its CA, its client certificate and key.

Pure code (the ``cryptography`` library parses, nothing is written anywhere): safe on any
thread. Each problem is a ``ValidationError`` naming the field, so that a certificate that
does not parse or a key that does not belong to the certificate is refused when the site
is saved (a 400), not found out at the next connect attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sitelink.errors import ValidationError

_MAX_CERTIFICATES = 16


def check_ca(field: str, pem: str) -> None:
    """``pem`` holds one or more certificates (a CA bundle)."""
    try:
        found = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, TypeError):
        raise ValidationError(field, "is not a PEM certificate (or bundle) that parses") from None
    if len(found) > _MAX_CERTIFICATES:
        raise ValidationError(field, f"at most {_MAX_CERTIFICATES} certificates")


def check_client_pair(cert_pem: str | None, key_pem: str | None) -> None:
    """A client certificate and its private key: both or neither; each parses (an encrypted
    key is refused, there is nobody to type its passphrase); the key is the certificate's."""
    if not cert_pem and not key_pem:
        return
    if not cert_pem:
        raise ValidationError("tls_client_cert_pem", "is required with tls_client_key_pem")
    if not key_pem:
        raise ValidationError("tls_client_key_pem", "is required with tls_client_cert_pem")
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    except (ValueError, TypeError):
        raise ValidationError("tls_client_cert_pem", "is not a PEM certificate that parses"
                              ) from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        raise ValidationError("tls_client_key_pem", "is encrypted: give the key without a "
                              "passphrase") from None
    except Exception:  # ValueError, or an unsupported key type's own error
        raise ValidationError("tls_client_key_pem", "is not a PEM private key that parses"
                              ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != \
            certificate.public_key().public_bytes(der, public):
        raise ValidationError("tls_client_key_pem", "does not match tls_client_cert_pem")


def client_cert_expired(cert_pem: str, now: datetime | None = None) -> str | None:
    """Words for a client certificate that is not valid now (expired, or not yet valid);
    None when it is, or when it does not parse (it was checked when saved)."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    except (ValueError, TypeError):
        return None
    moment = now or datetime.now(UTC)
    if moment > certificate.not_valid_after_utc:
        day = certificate.not_valid_after_utc.date().isoformat()
        return f"TLS client certificate expired on {day}: the broker will refuse it"
    if moment < certificate.not_valid_before_utc:
        day = certificate.not_valid_before_utc.date().isoformat()
        return f"TLS client certificate is not valid before {day}"
    return None

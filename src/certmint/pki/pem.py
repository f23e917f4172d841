"""PEM blobs of certificates, in and out."""

from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.pki.errors import INVALID_CERTIFICATE, PKIError


def load_certificates_pem(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM blob, in order."""
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise PKIError(INVALID_CERTIFICATE, "no PEM certificate found")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as error:
        # cryptography's message points at its FAQ; the user needs to know which data is broken.
        raise PKIError(INVALID_CERTIFICATE, "malformed PEM certificate data") from error


def certificates_to_pem(certificates: Iterable[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)

"""PEM blobs of certificates, in and out."""

from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.pki.errors import PKIError


def load_certificates_pem(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM blob, in order."""
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise PKIError("InvalidCertificate", f"not PEM certificates: {str(error).splitlines()[0]}") from error
    if not certificates:
        raise PKIError("InvalidCertificate", "no PEM certificate found")
    return certificates


def certificates_to_pem(certificates: Iterable[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)

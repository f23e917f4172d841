"""PEM blobs of certificates, in and out."""

from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.pki.errors import INVALID_CERTIFICATE, TOO_MANY_PEM_BLOCKS, PKIError

MAX_PEM_BLOCKS = 512
"""Most PEM blocks certmint decodes from one input (a Secret's tls.crt or ca.crt, a bundle source, a
CSR's certificate, stored CRLs). A public root store holds about 150 CAs; a chain, a handful. Past
this, the input is refused before any block is decoded: each costs a parse, and a 1 MiB Secret of
tiny blocks would otherwise cost thousands on every reconcile."""


def require_pem_blocks_within_limit(data: bytes) -> None:
    """Counts "-----BEGIN" markers (one linear scan), so it runs before anything is decoded."""
    blocks = data.count(b"-----BEGIN")
    if blocks > MAX_PEM_BLOCKS:
        raise PKIError(
            TOO_MANY_PEM_BLOCKS, f"PEM data holds {blocks} blocks; certmint reads at most {MAX_PEM_BLOCKS}"
        )


def load_certificates_pem(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM blob, in order. Raises PKIError: InvalidCertificate, or
    TooManyPEMBlocks past MAX_PEM_BLOCKS."""
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise PKIError(INVALID_CERTIFICATE, "no PEM certificate found")
    require_pem_blocks_within_limit(data)
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as error:
        # cryptography's message points at its FAQ; the user needs to know which data is broken.
        raise PKIError(INVALID_CERTIFICATE, "malformed PEM certificate data") from error


def certificates_to_pem(certificates: Iterable[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)

"""Trust bundles: many PEM sources in, one deterministic bundle out."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certmint.pki.ca import is_ca
from certmint.pki.errors import INVALID_CERTIFICATE, PKIError
from certmint.pki.pem import certificates_to_pem, load_certificates_pem


@dataclass(frozen=True)
class TrustBundleContent:
    certificates: tuple[x509.Certificate, ...]
    pem: bytes
    digest: str
    """sha256:<hex> of `pem`. Equal inputs in any order give equal digests: no change, no write."""


def assemble_bundle(sources: Iterable[bytes], now: datetime | None = None) -> TrustBundleContent:
    """Deduplicated by DER and sorted; with `now`, expired certificates are dropped.

    Not-yet-valid certificates stay: publishing a new CA before it takes over is how rotation works.
    Every certificate must be a CA certificate: a leaf in a trust bundle would be trusted as an anchor
    by verifiers that accept partial chains, so whoever holds its key could impersonate anything.
    """
    unique: dict[bytes, x509.Certificate] = {}
    for index, source in enumerate(sources):
        try:
            certificates = load_certificates_pem(source)
        except PKIError as error:
            raise PKIError(INVALID_CERTIFICATE, f"bundle source {index}: {error.message}") from error
        for certificate in certificates:
            if not is_ca(certificate):
                raise PKIError(
                    INVALID_CERTIFICATE,
                    f"bundle source {index}: {certificate.subject.rfc4514_string()[:200]} is not a CA "
                    "certificate (basicConstraints CA:TRUE and keyCertSign); a bundle holds trust anchors "
                    "only",
                )
            unique.setdefault(certificate.public_bytes(serialization.Encoding.DER), certificate)
    kept = [cert for cert in unique.values() if now is None or now < cert.not_valid_after_utc]
    kept.sort(
        key=lambda cert: (
            cert.subject.rfc4514_string(),
            cert.not_valid_before_utc,
            cert.fingerprint(hashes.SHA256()),
        )
    )
    pem = certificates_to_pem(kept)
    return TrustBundleContent(tuple(kept), pem, f"sha256:{hashlib.sha256(pem).hexdigest()}")

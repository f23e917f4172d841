"""A CA whose subjectKeyIdentifier follows RFC 7093 method 1 (the leftmost 160 bits of the SHA-256
of its subjectPublicKey), not RFC 5280's SHA-1: as provided CAs from other tooling may have. Shared
by the unit and e2e tests."""

import hashlib
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmint.pki import CertificateAuthority
from certmint.pki.ca import key_usage
from tests.hand_made import hand_made_certificate


def rfc7093_method1_key_identifier(public_key: ec.EllipticCurvePublicKey) -> bytes:
    bits = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return hashlib.sha256(bits).digest()[:20]


def sha1_key_identifier(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


def rfc7093_root_ca(now: datetime, common_name: str = "RFC 7093 Root") -> CertificateAuthority:
    """A self-signed P-256 root, valid from a day before `now` for a year, SKI and AKI per RFC 7093."""
    key = ec.generate_private_key(ec.SECP256R1())
    identifier = rfc7093_method1_key_identifier(key.public_key())
    assert identifier != sha1_key_identifier(key.public_key())
    certificate = hand_made_certificate(
        key,
        common_name,
        now - timedelta(days=1),
        now + timedelta(days=365),
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), True),
            (x509.SubjectKeyIdentifier(identifier), False),
            (
                x509.AuthorityKeyIdentifier(
                    identifier, authority_cert_issuer=None, authority_cert_serial_number=None
                ),
                False,
            ),
        ],
    )
    return CertificateAuthority(certificate=certificate, private_key=key)

"""A CA whose subjectKeyIdentifier follows RFC 7093 method 1 (the leftmost 160 bits of the SHA-256
of its subjectPublicKey), not RFC 5280's SHA-1: as provided CAs from other tooling may have. Shared
by the unit and e2e tests."""

import hashlib
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmint.pki import CertificateAuthority
from certmint.pki.ca import key_usage


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
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(identifier), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(
                identifier, authority_cert_issuer=None, authority_cert_serial_number=None
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate=certificate, private_key=key)

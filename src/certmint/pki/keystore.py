"""PKCS#12 keystores and truststores, and the combined PEM some servers want."""

from collections.abc import Sequence
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certmint.pki.errors import INVALID_REQUEST, PKIError
from certmint.pki.keys import PrivateKey, encode_private_key_pem
from certmint.pki.pem import certificates_to_pem


class PKCS12Profile(StrEnum):
    MODERN = "Modern"
    """AES-256-CBC with PBKDF2 and a SHA-256 MAC (OpenSSL 3 default)."""
    LEGACY_DES = "LegacyDES"
    """3DES with a SHA-1 MAC: for Java before 8u301 and older Windows. cryptography cannot write RC2,
    so there is no RC2 profile; OpenSSL 3 reads this one without -legacy (3DES is in its default
    provider)."""


def _encryption(password: bytes, profile: PKCS12Profile) -> serialization.KeySerializationEncryption:
    if not password:
        raise PKIError(INVALID_REQUEST, "a PKCS#12 password must not be empty")
    if profile == PKCS12Profile.LEGACY_DES:
        return (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(password)
        )
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )


def pkcs12_keystore(
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes,
    profile: PKCS12Profile = PKCS12Profile.MODERN,
    friendly_name: bytes = b"certmint",
) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        friendly_name, key, certificate, list(chain) or None, _encryption(password, profile)
    )


def pkcs12_truststore(
    certificates: Sequence[x509.Certificate], password: bytes, profile: PKCS12Profile = PKCS12Profile.MODERN
) -> bytes:
    """Trusted certificates only; Java reads them as trusted entries."""
    return pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(cert, cert.subject.rfc4514_string().encode()) for cert in certificates],
        _encryption(password, profile),
    )


def combined_pem(key: PrivateKey, certificate_chain: Sequence[x509.Certificate]) -> bytes:
    """Key first, then the chain: the layout of HAProxy's and nginx's combined files."""
    return encode_private_key_pem(key) + certificates_to_pem(certificate_chain)

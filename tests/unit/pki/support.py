"""Shared clock and certificate builders for the PKI tests."""

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from certmint.pki import KeySpec, PrivateKey, generate_private_key

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def self_signed(
    common_name: str,
    extensions: list[tuple[x509.ExtensionType, bool]],
    key: PrivateKey | None = None,
    serial: int | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """A hand-made certificate, for shapes certmint itself never produces."""
    key = key or generate_private_key(KeySpec())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return key, builder.sign(key, hashes.SHA256())

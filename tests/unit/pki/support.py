"""Shared clock and certificate builders for the PKI tests."""

from datetime import UTC, datetime, timedelta

from cryptography import x509

from certmint.pki import KeySpec, PrivateKey, generate_private_key
from tests.hand_made import hand_made_certificate

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def self_signed(
    common_name: str,
    extensions: list[tuple[x509.ExtensionType, bool]],
    key: PrivateKey | None = None,
    serial: int | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """A hand-made certificate, for shapes certmint itself never produces."""
    key = key or generate_private_key(KeySpec())
    certificate = hand_made_certificate(
        key, common_name, NOW - timedelta(days=1), NOW + timedelta(days=1), extensions, serial=serial
    )
    return key, certificate

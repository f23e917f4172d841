import pytest
from cryptography.hazmat.primitives import hashes

from certmint.pki import (
    CertificateAuthority,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    issue_leaf,
    serial_hex,
    summarize_certificate,
)
from tests.unit.pki.support import NOW


@pytest.mark.parametrize(
    ("spec", "key_type"),
    [
        (KeySpec(KeyAlgorithm.ECDSA, 256), "ECDSA P-256"),
        (KeySpec(KeyAlgorithm.ECDSA, 384), "ECDSA P-384"),
        (KeySpec(KeyAlgorithm.RSA, 2048), "RSA 2048"),
        (KeySpec(KeyAlgorithm.RSA, 3072), "RSA 3072"),
        (KeySpec(KeyAlgorithm.RSA, 4096), "RSA 4096"),
        (KeySpec(KeyAlgorithm.ED25519), "Ed25519"),
    ],
    ids=str,
)
def test_key_types_are_named(root_ca: CertificateAuthority, spec: KeySpec, key_type: str) -> None:
    _, cert = issue_leaf(LeafRequest(common_name="k"), spec, root_ca, NOW)
    assert summarize_certificate(cert).key_type == key_type


def test_a_summary_of_a_ca(root_ca: CertificateAuthority) -> None:
    summary = summarize_certificate(root_ca.certificate)
    cert = root_ca.certificate
    assert summary.subject == summary.issuer == "CN=Test Root"
    assert summary.serial_number == format(cert.serial_number, "x")
    assert summary.not_before == cert.not_valid_before_utc
    assert summary.not_after == cert.not_valid_after_utc
    assert summary.sha256_fingerprint == cert.fingerprint(hashes.SHA256()).hex()
    assert len(summary.sha256_fingerprint) == 64
    assert summary.is_ca
    assert summary.key_type == "ECDSA P-256"
    assert (summary.dns_names, summary.ip_addresses, summary.uris, summary.email_addresses) == (
        (),
        (),
        (),
        (),
    )


def test_ip_addresses_are_summarised_in_canonical_form(root_ca: CertificateAuthority) -> None:
    request = LeafRequest(ip_addresses=("2001:DB8:0:0:0:0:0:1", "10.1.2.3"))
    _, cert = issue_leaf(request, KeySpec(), root_ca, NOW)
    assert summarize_certificate(cert).ip_addresses == ("2001:db8::1", "10.1.2.3")


@pytest.mark.parametrize(
    ("serial", "text"),
    [(1, "1"), (0xABCDEF, "abcdef"), (0x0100, "100"), (2**159 - 1, "7" + "f" * 39)],
)
def test_serial_hex_is_lowercase_without_colons_or_padding(serial: int, text: str) -> None:
    assert serial_hex(serial) == text

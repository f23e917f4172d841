from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from certmint.pki import (
    CertificateAuthority,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    issue_leaf,
    parse_serial,
    serial_hex,
    summarize_certificate,
)
from tests.unit.pki.support import NOW, self_signed
from tests.unit.pki.test_openssl import openssl, write_pem


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
    assert summary.serial_number == serial_hex(cert.serial_number)
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
    [
        (1, "01"),
        (0xABCDEF, "ABCDEF"),
        (0x0100, "0100"),
        (0x00FF, "FF"),
        (2**159 - 1, "7F" + "FF" * 19),
        (0x0ABC << 144, "0ABC" + "00" * 18),
    ],
)
def test_serials_are_uppercase_hex_in_whole_octets(serial: int, text: str) -> None:
    assert serial_hex(serial) == text


@pytest.mark.parametrize("text", ["0ABC", "abc", "0a:bc", "0A:BC", "0xabc", " 0ABC\n"])
def test_serials_are_read_in_every_hex_form(text: str) -> None:
    assert parse_serial(text) == 0xABC


@pytest.mark.parametrize("text", ["", ":", "0x", "12g4", "12 34", "-"])
def test_what_is_no_hex_serial_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a hexadecimal serial number"):
        parse_serial(text)


@pytest.mark.parametrize("serial", [0x0F << 152, 0x7F << 152, 1, 0x0100, 2**64 + 5], ids=hex)
def test_serials_read_as_openssl_prints_them(serial: int, tmp_path: Path) -> None:
    """A leading zero nibble (39 hex digits) is where the old form differed from `openssl x509 -serial`."""
    _, cert = self_signed("serial", [], serial=serial)
    pem = write_pem(tmp_path / "cert.pem", cert)
    printed = openssl("x509", "-in", pem, "-noout", "-serial")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == f"serial={serial_hex(serial)}"
    assert summarize_certificate(cert).serial_number == serial_hex(serial)
    assert parse_serial(serial_hex(serial)) == serial

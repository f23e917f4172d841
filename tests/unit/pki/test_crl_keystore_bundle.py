from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    KeySpec,
    LeafRequest,
    PKCS12Profile,
    PKIError,
    RevocationReason,
    RevokedCertificate,
    assemble_bundle,
    build_crl,
    certificates_to_pem,
    combined_pem,
    create_root_ca,
    crl_to_der,
    crl_to_pem,
    issue_leaf,
    load_certificates_pem,
    load_private_key_pem,
    parse_crl,
    pkcs12_keystore,
    pkcs12_truststore,
)
from tests.unit.pki.conftest import NOW


def test_crl_round_trips_with_reasons_in_serial_order(root_ca: CertificateAuthority) -> None:
    entries = [
        RevokedCertificate(300, NOW - timedelta(hours=1), RevocationReason.KEY_COMPROMISE),
        RevokedCertificate(100, NOW - timedelta(hours=2)),
        RevokedCertificate(200, NOW - timedelta(hours=3), RevocationReason.SUPERSEDED),
    ]
    crl = build_crl(root_ca, entries, NOW, timedelta(hours=6), crl_number=7)
    assert crl.is_signature_valid(root_ca.certificate.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc == NOW + timedelta(hours=6)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    assert [item.serial_number for item in crl] == [100, 200, 300]
    unspecified = crl.get_revoked_certificate_by_serial_number(100)
    assert unspecified is not None
    assert len(unspecified.extensions) == 0, "RFC 5280: unspecified is expressed by omitting the reason"
    for encoded in (crl_to_pem(crl), crl_to_der(crl)):
        assert sorted(parse_crl(encoded), key=lambda e: e.serial_number) == sorted(
            entries, key=lambda e: e.serial_number
        )


def test_parse_crl_rejects_garbage() -> None:
    with pytest.raises(PKIError, match="not a CRL") as caught:
        parse_crl(b"\x30\x03junk")
    assert caught.value.reason == "InvalidCRL"


@pytest.mark.parametrize("profile", list(PKCS12Profile))
def test_pkcs12_keystore_and_truststore_open_with_their_password(
    root_ca: CertificateAuthority, profile: PKCS12Profile
) -> None:
    key, leaf = issue_leaf(LeafRequest(common_name="java"), KeySpec(), root_ca, NOW)
    store = pkcs12_keystore(key, leaf, [root_ca.certificate], b"changeit", profile)
    loaded = pkcs12.load_pkcs12(store, b"changeit")
    assert loaded.cert is not None
    assert loaded.cert.certificate == leaf
    assert loaded.cert.friendly_name == b"certmint"
    assert [c.certificate for c in loaded.additional_certs] == [root_ca.certificate]
    with pytest.raises(ValueError, match="Invalid password"):
        pkcs12.load_pkcs12(store, b"wrong")
    trust = pkcs12.load_pkcs12(pkcs12_truststore([root_ca.certificate], b"changeit", profile), b"changeit")
    assert trust.key is None
    assert [c.certificate for c in trust.additional_certs] == [root_ca.certificate]


def test_combined_pem_is_key_then_chain(root_ca: CertificateAuthority) -> None:
    key, leaf = issue_leaf(LeafRequest(common_name="a"), KeySpec(), root_ca, NOW)
    combined = combined_pem(key, [leaf, root_ca.certificate])
    assert load_private_key_pem(combined).public_key() == key.public_key()
    assert load_certificates_pem(combined) == [leaf, root_ca.certificate]


def test_bundles_are_deduplicated_sorted_and_stable(root_ca: CertificateAuthority) -> None:
    other = create_root_ca(CARequest("Another Root", timedelta(days=30)), NOW)
    a = certificates_to_pem([root_ca.certificate])
    b = certificates_to_pem([other.certificate])
    first = assemble_bundle([a, b, a])
    second = assemble_bundle([b + a])
    assert first == second
    assert first.certificates == (
        other.certificate,
        root_ca.certificate,
    )  # "CN=Another Root" < "CN=Test Root"
    assert first.digest.startswith("sha256:")
    assert assemble_bundle([a]).digest != first.digest


def test_bundles_drop_expired_certificates_when_asked(root_ca: CertificateAuthority) -> None:
    expired = create_root_ca(CARequest("Old Root", timedelta(days=1)), NOW - timedelta(days=10))
    sources = [certificates_to_pem([root_ca.certificate]), certificates_to_pem([expired.certificate])]
    assert len(assemble_bundle(sources).certificates) == 2
    assert assemble_bundle(sources, now=NOW).certificates == (root_ca.certificate,)


def test_a_bad_bundle_source_is_named(root_ca: CertificateAuthority) -> None:
    with pytest.raises(PKIError, match="bundle source 1: no PEM certificate found") as caught:
        assemble_bundle([certificates_to_pem([root_ca.certificate]), b"not pem"])
    assert caught.value.reason == "InvalidCertificate"


def test_malformed_pem_is_named_as_such() -> None:
    with pytest.raises(PKIError, match="malformed PEM certificate data"):
        load_certificates_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")

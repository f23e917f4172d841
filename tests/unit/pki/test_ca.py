from datetime import timedelta

import pytest
from cryptography import x509

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    PKIError,
    certificates_to_pem,
    create_intermediate_ca,
    create_root_ca,
    encode_private_key_pem,
    generate_private_key,
    is_ca,
    issue_leaf,
    load_ca,
)
from tests.unit.pki.conftest import NOW


def test_root_ca_has_the_extensions_verifiers_require(root_ca: CertificateAuthority) -> None:
    cert = root_ca.certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert cert.issuer == cert.subject
    assert root_ca.root == cert
    assert cert.serial_number.bit_length() > 128


def test_root_options() -> None:
    request = CARequest(
        common_name="Org CA",
        organization="Example",
        duration=timedelta(days=10),
        key=KeySpec(KeyAlgorithm.RSA, 2048),
        path_length=1,
        permitted_dns_domains=("example.com",),
    )
    ca = create_root_ca(request, NOW)
    cert = ca.certificate
    assert cert.subject.rfc4514_string() == "O=Example,CN=Org CA"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    constraints = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName("example.com")]
    assert cert.not_valid_after_utc == NOW + timedelta(days=10)
    assert cert.not_valid_before_utc < NOW


def test_intermediate_is_signed_by_its_root_and_clamped_to_it(root_ca: CertificateAuthority) -> None:
    intermediate = create_intermediate_ca(
        CARequest(
            common_name="Issuing CA", duration=timedelta(days=5000), key=KeySpec(KeyAlgorithm.ECDSA, 384)
        ),
        root_ca,
        NOW,
    )
    intermediate.certificate.verify_directly_issued_by(root_ca.certificate)
    assert intermediate.chain == (root_ca.certificate,)
    assert intermediate.root == root_ca.certificate
    assert intermediate.certificate.not_valid_after_utc == root_ca.certificate.not_valid_after_utc
    aki = intermediate.certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root_ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest


def test_load_ca_round_trips_with_its_chain(root_ca: CertificateAuthority) -> None:
    intermediate = create_intermediate_ca(CARequest("Issuing", timedelta(days=30)), root_ca, NOW)
    pem = certificates_to_pem([intermediate.certificate, root_ca.certificate])
    loaded = load_ca(pem, encode_private_key_pem(intermediate.private_key), NOW)
    assert loaded.certificate == intermediate.certificate
    assert loaded.chain == (root_ca.certificate,)


def test_load_ca_failures_have_their_reasons(root_ca: CertificateAuthority) -> None:
    ca_pem = certificates_to_pem([root_ca.certificate])
    ca_key = encode_private_key_pem(root_ca.private_key)
    leaf_key, leaf = issue_leaf(LeafRequest(common_name="leaf"), KeySpec(), root_ca, NOW)
    cases = [
        (b"junk", ca_key, NOW, "InvalidCertificate", "no PEM certificate found"),
        (ca_pem, b"junk", NOW, "InvalidKey", "not a PEM private key"),
        (certificates_to_pem([leaf]), encode_private_key_pem(leaf_key), NOW, "NotACA", "is not a CA"),
        (
            ca_pem,
            encode_private_key_pem(generate_private_key(KeySpec())),
            NOW,
            "KeyMismatch",
            "does not match",
        ),
        (ca_pem, ca_key, NOW + timedelta(days=400), "CAExpired", "not now"),
        (ca_pem, ca_key, NOW - timedelta(days=30), "CAExpired", "not now"),
    ]
    for cert_pem, key_pem, when, reason, message in cases:
        with pytest.raises(PKIError, match=message) as caught:
            load_ca(cert_pem, key_pem, when)
        assert caught.value.reason == reason


def test_a_ca_needs_a_positive_duration() -> None:
    with pytest.raises(PKIError, match="CA duration must be positive"):
        create_root_ca(CARequest("x", timedelta(0)), NOW)


def test_is_ca(root_ca: CertificateAuthority) -> None:
    _, leaf = issue_leaf(LeafRequest(common_name="leaf"), KeySpec(), root_ca, NOW)
    assert is_ca(root_ca.certificate)
    assert not is_ca(leaf)

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

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
from tests.unit.pki.support import NOW, self_signed

CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _ski(certificate: x509.Certificate) -> bytes:
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def _aki(certificate: x509.Certificate) -> bytes | None:
    return certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier


def _assert_same_ca(loaded: CertificateAuthority, original: CertificateAuthority) -> None:
    """Private keys compare by identity, so compare what they prove instead."""
    assert (loaded.certificate, loaded.chain, loaded.root_certificate) == (
        original.certificate,
        original.chain,
        original.root_certificate,
    )
    assert loaded.private_key.public_key() == original.private_key.public_key()


def _assert_ca_extensions(certificate: x509.Certificate) -> None:
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign


def test_a_root_is_self_signed_with_the_extensions_verifiers_require(root_ca: CertificateAuthority) -> None:
    cert = root_ca.certificate
    _assert_ca_extensions(cert)
    assert _aki(cert) == _ski(cert)
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    assert root_ca.chain == ()
    assert root_ca.root_certificate is None
    assert root_ca.root == cert
    assert cert.serial_number.bit_length() > 128
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"


def test_root_options_land_in_the_certificate() -> None:
    request = CARequest(
        common_name="Org CA",
        organization="Example",
        duration=timedelta(days=10),
        key=KeySpec(KeyAlgorithm.RSA, 2048),
        path_length=1,
        permitted_dns_domains=("example.com", "svc.cluster.local"),
    )
    cert = create_root_ca(request, NOW).certificate
    assert cert.subject.rfc4514_string() == "O=Example,CN=Org CA"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    constraints = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [
        x509.DNSName("example.com"),
        x509.DNSName("svc.cluster.local"),
    ]
    assert cert.not_valid_after_utc == NOW + timedelta(days=10)
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=1)


def test_without_options_there_is_no_organization_path_length_or_name_constraints() -> None:
    cert = create_root_ca(CARequest("Plain", timedelta(days=1)), NOW).certificate
    assert cert.subject.rfc4514_string() == "CN=Plain"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length is None
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.NameConstraints)


@pytest.mark.parametrize(
    ("spec", "hash_name"),
    [(KeySpec(KeyAlgorithm.ECDSA, 384), "sha384"), (KeySpec(KeyAlgorithm.ED25519), None)],
    ids=str,
)
def test_the_signature_hash_follows_the_key(spec: KeySpec, hash_name: str | None) -> None:
    cert = create_root_ca(CARequest("Hashed", timedelta(days=1), key=spec), NOW).certificate
    algorithm = cert.signature_hash_algorithm
    assert (algorithm.name if algorithm else None) == hash_name


def test_an_intermediate_is_signed_by_its_root_and_lives_within_it(root_ca: CertificateAuthority) -> None:
    intermediate = create_intermediate_ca(
        CARequest("Issuing CA", timedelta(days=5000), key=KeySpec(KeyAlgorithm.ECDSA, 384)), root_ca, NOW
    )
    cert = intermediate.certificate
    _assert_ca_extensions(cert)
    cert.verify_directly_issued_by(root_ca.certificate)
    assert intermediate.chain == ()
    assert intermediate.root_certificate == root_ca.certificate
    assert intermediate.root == root_ca.certificate
    assert cert.not_valid_after_utc == root_ca.certificate.not_valid_after_utc
    assert _aki(cert) == _ski(root_ca.certificate)
    assert _ski(cert) != _ski(root_ca.certificate)


def test_an_intermediate_never_starts_before_its_parent() -> None:
    parent = create_root_ca(CARequest("Young Root", timedelta(days=30)), NOW)
    child = create_intermediate_ca(CARequest("Child", timedelta(days=1)), parent, NOW)
    assert child.certificate.not_valid_before_utc == parent.certificate.not_valid_before_utc


def test_a_second_level_intermediate_keeps_the_chain_and_the_root(
    root_ca: CertificateAuthority,
) -> None:
    first = create_intermediate_ca(CARequest("Level 1", timedelta(days=30), path_length=1), root_ca, NOW)
    second = create_intermediate_ca(CARequest("Level 2", timedelta(days=30)), first, NOW)
    second.certificate.verify_directly_issued_by(first.certificate)
    assert second.chain == (first.certificate,)
    assert second.root_certificate == root_ca.certificate
    assert second.root == root_ca.certificate


def test_a_path_length_zero_ca_cannot_sign_an_intermediate(intermediate_ca: CertificateAuthority) -> None:
    with pytest.raises(PKIError, match=r"^CA CN=Test Issuing has path length 0 and cannot sign a CA$") as e:
        create_intermediate_ca(CARequest("Too deep", timedelta(days=1)), intermediate_ca, NOW)
    assert e.value.reason == "InvalidRequest"


def test_an_expired_parent_signs_no_intermediate(root_ca: CertificateAuthority) -> None:
    with pytest.raises(PKIError, match=r"^CA certificate CN=Test Root is valid from .* not at 2027-") as e:
        create_intermediate_ca(CARequest("Late", timedelta(days=1)), root_ca, NOW + timedelta(days=400))
    assert e.value.reason == "CAExpired"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (CARequest("", timedelta(days=1)), "CA common name must be 1 to 64 bytes in UTF-8"),
        (CARequest("x" * 65, timedelta(days=1)), "CA common name must be 1 to 64 bytes in UTF-8"),
        (
            CARequest("x", timedelta(days=1), organization=""),
            "CA organization must be 1 to 64 bytes in UTF-8",
        ),
        (
            CARequest("x", timedelta(days=1), organization="o" * 65),
            "CA organization must be 1 to 64 bytes in UTF-8",
        ),
        (CARequest("x", timedelta(0)), "CA duration must be positive"),
        (CARequest("x", timedelta(days=-1)), "CA duration must be positive"),
        (CARequest("x", timedelta(days=1), path_length=-1), "CA path length must not be negative, got -1"),
        (
            CARequest("x", timedelta(days=1), permitted_dns_domains=("bad domain",)),
            "DNS name 'bad domain': label 'bad domain' must be 1-63 letters",
        ),
    ],
    ids=["empty-cn", "long-cn", "empty-org", "long-org", "zero-duration", "negative-duration", "path", "nc"],
)
def test_invalid_ca_requests_are_refused_for_roots_and_intermediates(
    root_ca: CertificateAuthority, request_: CARequest, message: str
) -> None:
    with pytest.raises(PKIError, match=f"^{message}") as as_root:
        create_root_ca(request_, NOW)
    with pytest.raises(PKIError, match=f"^{message}") as as_intermediate:
        create_intermediate_ca(request_, root_ca, NOW)
    assert as_root.value.reason == as_intermediate.value.reason == "InvalidRequest"


def test_load_ca_round_trips_a_root(root_ca: CertificateAuthority) -> None:
    loaded = load_ca(
        certificates_to_pem([root_ca.certificate]), encode_private_key_pem(root_ca.private_key), NOW
    )
    _assert_same_ca(loaded, root_ca)
    assert loaded.root == root_ca.certificate


def test_load_ca_separates_the_root_from_the_chain(root_ca: CertificateAuthority) -> None:
    first = create_intermediate_ca(CARequest("Level 1", timedelta(days=30), path_length=1), root_ca, NOW)
    second = create_intermediate_ca(CARequest("Level 2", timedelta(days=30)), first, NOW)
    key_pem = encode_private_key_pem(second.private_key)
    with_root = load_ca(
        certificates_to_pem([second.certificate, first.certificate, root_ca.certificate]), key_pem, NOW
    )
    _assert_same_ca(with_root, second)
    without_root = load_ca(certificates_to_pem([second.certificate, first.certificate]), key_pem, NOW)
    assert without_root.chain == (first.certificate,)
    assert without_root.root_certificate is None
    assert without_root.root == first.certificate, "the topmost certificate held is the best anchor known"


def test_a_loaded_ca_signs_like_the_original(root_ca: CertificateAuthority) -> None:
    loaded = load_ca(
        certificates_to_pem([root_ca.certificate]), encode_private_key_pem(root_ca.private_key), NOW
    )
    _, leaf = issue_leaf(LeafRequest(common_name="from loaded"), KeySpec(), loaded, NOW)
    leaf.verify_directly_issued_by(root_ca.certificate)


def test_load_ca_failures_have_their_reasons(root_ca: CertificateAuthority) -> None:
    ca_pem = certificates_to_pem([root_ca.certificate])
    ca_key = encode_private_key_pem(root_ca.private_key)
    leaf_key, leaf = issue_leaf(LeafRequest(common_name="leaf"), KeySpec(), root_ca, NOW)
    other = create_root_ca(CARequest("Other", timedelta(days=30)), NOW)
    cases = [
        (b"junk", ca_key, NOW, "InvalidCertificate", "^no PEM certificate found$"),
        (ca_pem, b"junk", NOW, "InvalidKey", "^not a PEM private key"),
        (certificates_to_pem([leaf]), encode_private_key_pem(leaf_key), NOW, "NotACA", "is not a CA"),
        (
            ca_pem,
            encode_private_key_pem(generate_private_key(KeySpec())),
            NOW,
            "KeyMismatch",
            "does not match",
        ),
        (
            ca_pem,
            ca_key,
            NOW + timedelta(days=400),
            "CAExpired",
            r"valid from 2026-05-31T11:59:00Z to 2027-05-31",
        ),
        (ca_pem, ca_key, NOW - timedelta(days=30), "CAExpired", r"not at 2026-05-02T12:00:00Z$"),
        (
            certificates_to_pem([root_ca.certificate, other.certificate]),
            ca_key,
            NOW,
            "InvalidCertificate",
            r"^certificate 1 \(CN=Other\) did not issue certificate 0 \(CN=Test Root\)",
        ),
    ]
    for cert_pem, key_pem, when, reason, message in cases:
        with pytest.raises(PKIError, match=message) as caught:
            load_ca(cert_pem, key_pem, when)
        assert caught.value.reason == reason


def test_a_misordered_chain_is_refused(root_ca: CertificateAuthority) -> None:
    first = create_intermediate_ca(CARequest("Level 1", timedelta(days=30), path_length=1), root_ca, NOW)
    second = create_intermediate_ca(CARequest("Level 2", timedelta(days=30)), first, NOW)
    misordered = certificates_to_pem([second.certificate, root_ca.certificate, first.certificate])
    with pytest.raises(PKIError, match="list the CA first, then each issuer in turn"):
        load_ca(misordered, encode_private_key_pem(second.private_key), NOW)


def test_a_ca_without_key_usage_is_not_a_ca() -> None:
    key, cert = self_signed("No KeyUsage", [(x509.BasicConstraints(ca=True, path_length=None), True)])
    assert not is_ca(cert)
    with pytest.raises(PKIError, match="needs basicConstraints CA:TRUE and keyCertSign") as caught:
        load_ca(certificates_to_pem([cert]), encode_private_key_pem(key), NOW)
    assert caught.value.reason == "NotACA"


@pytest.mark.parametrize(
    ("extensions", "expected"),
    [
        ([(x509.BasicConstraints(ca=True, path_length=None), True), (CA_KEY_USAGE, True)], True),
        ([(x509.BasicConstraints(ca=False, path_length=None), True), (CA_KEY_USAGE, True)], False),
        ([(CA_KEY_USAGE, True)], False),
        ([], False),
    ],
    ids=["ca", "ca-false", "no-basic-constraints", "no-extensions"],
)
def test_is_ca_needs_both_basic_constraints_and_key_cert_sign(
    extensions: list[tuple[x509.ExtensionType, bool]], expected: bool
) -> None:
    _, cert = self_signed("Probe", extensions)
    assert is_ca(cert) is expected


def test_serials_differ_between_cas() -> None:
    request = CARequest("Same", timedelta(days=1))
    first, second = create_root_ca(request, NOW), create_root_ca(request, NOW)
    assert first.certificate.serial_number != second.certificate.serial_number
    assert first.certificate.fingerprint(hashes.SHA256()) != second.certificate.fingerprint(hashes.SHA256())

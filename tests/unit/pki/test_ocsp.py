"""OCSP building blocks: delegated signer certificates, request parsing, signed and refused responses,
cross-checked with cryptography's own CertID computation and with `openssl ocsp`."""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    RevocationReason,
    certificates_to_pem,
    create_root_ca,
    issue_leaf,
)
from certmint.pki.errors import PKIError
from certmint.pki.ocsp import (
    CertID,
    CertStatus,
    MalformedRequest,
    Refusal,
    Revocation,
    issue_ocsp_signer,
    issuer_hashes,
    parse_request,
    refusal,
    sign_response,
    signer_serves,
)
from tests.unit.pki.support import NOW


def leaf_of(ca: CertificateAuthority) -> x509.Certificate:
    return issue_leaf(LeafRequest(common_name="web", duration=timedelta(hours=1)), KeySpec(), ca, NOW)[1]


def request_der(
    leaf: x509.Certificate, ca: x509.Certificate, algorithm: hashes.HashAlgorithm, nonce: bytes | None = None
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def test_the_signer_is_a_delegated_ocsp_responder_issued_by_the_ca(root_ca: CertificateAuthority) -> None:
    signer = issue_ocsp_signer(root_ca, NOW, timedelta(days=7))
    certificate = signer.certificate
    certificate.verify_directly_issued_by(root_ca.certificate)
    extensions = certificate.extensions
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING
    ]
    assert extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    assert certificate.not_valid_after_utc == NOW + timedelta(days=7)
    assert isinstance(signer.private_key, ec.EllipticCurvePrivateKey)
    assert signer_serves(signer, root_ca.certificate, NOW)


def test_a_signer_never_outlives_its_ca_and_serves_only_its_ca_while_valid() -> None:
    short = create_root_ca(CARequest("short", timedelta(days=2), key=KeySpec(KeyAlgorithm.RSA, 2048)), NOW)
    other = create_root_ca(CARequest("other", timedelta(days=30)), NOW)
    signer = issue_ocsp_signer(short, NOW, timedelta(days=7))
    assert signer.certificate.not_valid_after_utc == short.certificate.not_valid_after_utc
    assert isinstance(signer.private_key, ec.EllipticCurvePrivateKey), "P-256 even under an RSA CA"
    assert signer_serves(signer, short.certificate, NOW + timedelta(days=1))
    assert not signer_serves(signer, short.certificate, NOW + timedelta(days=3))
    assert not signer_serves(signer, other.certificate, NOW)
    with pytest.raises(PKIError):
        issue_ocsp_signer(short, NOW, timedelta(0))


@pytest.mark.parametrize(
    "algorithm", [KeySpec(), KeySpec(KeyAlgorithm.RSA, 2048), KeySpec(KeyAlgorithm.ED25519)]
)
@pytest.mark.parametrize("hash_algorithm", [hashes.SHA1(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_issuer_hashes_match_the_certid_cryptography_builds(
    algorithm: KeySpec, hash_algorithm: hashes.HashAlgorithm
) -> None:
    ca = create_root_ca(CARequest("hashing", timedelta(days=30), key=algorithm), NOW)
    query = parse_request(request_der(leaf_of(ca), ca.certificate, hash_algorithm))
    assert isinstance(query, CertID)
    assert (query.hash_algorithm, query.issuer_name_hash, query.issuer_key_hash) in issuer_hashes(
        ca.certificate
    )


def test_a_request_is_parsed_into_one_certid(root_ca: CertificateAuthority) -> None:
    leaf = leaf_of(root_ca)
    query = parse_request(request_der(leaf, root_ca.certificate, hashes.SHA1(), nonce=b"n" * 16))
    assert isinstance(query, CertID)
    assert query.serial_number == leaf.serial_number
    assert query.hash_algorithm == "sha1"


@pytest.mark.parametrize("length", [1, 16, 32])
def test_nonces_of_1_to_32_octets_are_accepted(root_ca: CertificateAuthority, length: int) -> None:
    der = request_der(leaf_of(root_ca), root_ca.certificate, hashes.SHA1(), nonce=b"x" * length)
    assert isinstance(parse_request(der), CertID)


@pytest.mark.parametrize("length", [0, 33, 128])
def test_nonces_outside_rfc_8954_are_malformed(root_ca: CertificateAuthority, length: int) -> None:
    der = request_der(leaf_of(root_ca), root_ca.certificate, hashes.SHA1(), nonce=b"x" * length)
    result = parse_request(der)
    assert isinstance(result, MalformedRequest)
    assert "nonce" in result.why


@pytest.mark.parametrize(
    "der", [b"", b"\x00", b"garbage" * 10, b"\x30\x82\xff\xff", b"\x30\x03\x30\x01\x00"], ids=repr
)
def test_garbage_is_malformed_not_an_exception(der: bytes) -> None:
    assert isinstance(parse_request(der), MalformedRequest)


def test_a_truncated_request_is_malformed(root_ca: CertificateAuthority) -> None:
    der = request_der(leaf_of(root_ca), root_ca.certificate, hashes.SHA1())
    for cut in range(1, len(der)):
        assert isinstance(parse_request(der[:cut]), MalformedRequest), cut


def test_two_certificates_in_one_request_are_malformed(root_ca: CertificateAuthority, tmp_path: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        pytest.fail("openssl is required for this cross-check")
    (tmp_path / "ca.crt").write_bytes(certificates_to_pem([root_ca.certificate]))
    subprocess.run(
        [binary, "ocsp", "-issuer", "ca.crt", "-serial", "1", "-serial", "2", "-reqout", "req.der"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    result = parse_request((tmp_path / "req.der").read_bytes())
    assert isinstance(result, MalformedRequest)
    assert "more than one" in result.why


def test_signed_responses_carry_status_time_reason_and_the_signer(root_ca: CertificateAuthority) -> None:
    signer = issue_ocsp_signer(root_ca, NOW, timedelta(days=7))
    leaf = leaf_of(root_ca)
    query = parse_request(request_der(leaf, root_ca.certificate, hashes.SHA256()))
    assert isinstance(query, CertID)
    revoked_at = NOW - timedelta(minutes=5)
    der = sign_response(
        query,
        CertStatus.REVOKED,
        Revocation(revoked_at, RevocationReason.KEY_COMPROMISE),
        signer,
        NOW,
        NOW + timedelta(hours=1),
    )
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == revoked_at.replace(microsecond=0)
    assert response.revocation_reason == x509.ReasonFlags.key_compromise
    assert response.serial_number == leaf.serial_number
    assert response.this_update_utc == NOW
    assert response.next_update_utc == NOW + timedelta(hours=1)
    assert response.certificates == [signer.certificate]
    assert (
        response.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(signer.certificate.public_key()).digest
    )
    public_key = signer.certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    assert len(response.extensions) == 0, "no nonce: the response is shared"


def test_unspecified_revocations_leave_the_reason_out_and_good_has_none(
    root_ca: CertificateAuthority,
) -> None:
    signer = issue_ocsp_signer(root_ca, NOW, timedelta(days=7))
    query = parse_request(request_der(leaf_of(root_ca), root_ca.certificate, hashes.SHA1()))
    assert isinstance(query, CertID)
    revoked = Revocation(NOW, RevocationReason.UNSPECIFIED)
    response = ocsp.load_der_ocsp_response(
        sign_response(query, CertStatus.REVOKED, revoked, signer, NOW, NOW + timedelta(hours=1))
    )
    assert response.revocation_reason is None
    with pytest.raises(PKIError):
        sign_response(query, CertStatus.GOOD, revoked, signer, NOW, NOW + timedelta(hours=1))
    with pytest.raises(PKIError):
        sign_response(query, CertStatus.REVOKED, None, signer, NOW, NOW + timedelta(hours=1))


@pytest.mark.parametrize("reason", list(Refusal))
def test_refusals_are_unsigned_rfc_6960_errors(reason: Refusal) -> None:
    response = ocsp.load_der_ocsp_response(refusal(reason))
    assert response.response_status.name.lower().replace("_", "") == reason.value.lower()


def test_openssl_verifies_a_delegated_response_for_the_leaf(tmp_path: Path) -> None:
    """At the real time: openssl checks thisUpdate/nextUpdate against its own clock."""
    binary = shutil.which("openssl")
    if binary is None:
        pytest.fail("openssl is required for this cross-check")
    now = datetime.now(UTC)
    root_ca = create_root_ca(CARequest("openssl root", timedelta(days=1)), now)
    signer = issue_ocsp_signer(root_ca, now, timedelta(hours=2))
    leaf = issue_leaf(LeafRequest(common_name="web", duration=timedelta(hours=1)), KeySpec(), root_ca, now)[1]
    query = parse_request(request_der(leaf, root_ca.certificate, hashes.SHA1()))
    assert isinstance(query, CertID)
    (tmp_path / "resp.der").write_bytes(
        sign_response(query, CertStatus.GOOD, None, signer, now, now + timedelta(hours=1))
    )
    (tmp_path / "ca.crt").write_bytes(certificates_to_pem([root_ca.certificate]))
    (tmp_path / "leaf.crt").write_bytes(certificates_to_pem([leaf]))
    result = subprocess.run(
        [
            binary,
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "ca.crt",
            "-cert",
            "leaf.crt",
            "-CAfile",
            "ca.crt",
            "-no_nonce",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Response verify OK" in result.stderr, result.stderr
    assert "leaf.crt: good" in result.stdout, result.stdout

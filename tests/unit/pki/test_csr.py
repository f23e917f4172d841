"""Reading CSRs that arrive from anywhere, and building the ones `certmint request` sends."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmint.pki import (
    KeyAlgorithm,
    KeySpec,
    PKIError,
    RequestedNames,
    build_csr,
    generate_private_key,
    load_csr,
)
from certmint.pki.errors import INVALID_KEY, INVALID_REQUEST, INVALID_SIGNATURE
from tests.csr_material import ca_csr, csr_for, mismatched_signature_csr, odd_curve_csr, weak_rsa_csr


@pytest.mark.parametrize(
    "spec",
    [
        KeySpec(),
        KeySpec(KeyAlgorithm.ECDSA, 384),
        KeySpec(KeyAlgorithm.RSA, 2048),
        KeySpec(KeyAlgorithm.ED25519),
    ],
)
def test_a_built_request_reads_back_with_every_name(spec: KeySpec) -> None:
    names = RequestedNames(
        common_name="alice",
        organizations=("team-a",),
        dns_names=("a.example.com",),
        ip_addresses=("10.0.0.1", "fd00::1"),
        uris=("spiffe://td/ns/a/sa/b",),
        email_addresses=("alice@example.com",),
    )
    key, pem = csr_for(names, generate_private_key(spec))
    request = load_csr(pem)
    assert request.names == names
    assert request.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert not request.asks_ca


@pytest.mark.parametrize(
    ("pem", "reason", "words"),
    [
        (b"", INVALID_REQUEST, "not a PEM certificate request"),
        (
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            INVALID_REQUEST,
            "not a PEM",
        ),
        (mismatched_signature_csr(), INVALID_SIGNATURE, "does not match its public key"),
        (weak_rsa_csr(), INVALID_KEY, "1024 bits"),
        (odd_curve_csr(), INVALID_KEY, "secp256k1"),
    ],
)
def test_hostile_requests_are_refused_with_a_reason(pem: bytes, reason: str, words: str) -> None:
    with pytest.raises(PKIError) as raised:
        load_csr(pem)
    assert raised.value.reason == reason
    assert words in raised.value.message


def test_a_request_for_a_ca_is_recognised() -> None:
    assert load_csr(ca_csr()).asks_ca


def test_subject_attributes_other_than_cn_and_o_are_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "x"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ops"),
        ]
    )
    pem = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    with pytest.raises(PKIError) as raised:
        load_csr(pem.public_bytes(serialization.Encoding.PEM))
    assert "may hold only CN and O" in raised.value.message


def test_other_kinds_of_alternative_name_are_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sans = x509.SubjectAlternativeName([x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4"))])
    pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(sans, critical=False)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(PKIError) as raised:
        load_csr(pem.public_bytes(serialization.Encoding.PEM))
    assert "RegisteredID" in raised.value.message


def test_building_with_an_invalid_name_is_a_clear_error() -> None:
    with pytest.raises(PKIError) as raised:
        build_csr(generate_private_key(KeySpec()), RequestedNames(common_name="x" * 65))
    assert raised.value.reason == INVALID_REQUEST

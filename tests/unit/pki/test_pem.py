import pytest
from cryptography.hazmat.primitives import serialization

from certmint.pki import (
    CertificateAuthority,
    PKIError,
    certificates_to_pem,
    load_certificates_pem,
)


def test_pki_error_is_a_value_error_carrying_reason_and_message() -> None:
    error = PKIError("InvalidRequest", "duration must be positive")
    assert isinstance(error, ValueError)
    assert (error.reason, error.message, str(error)) == (
        "InvalidRequest",
        "duration must be positive",
        "duration must be positive",
    )


def test_every_certificate_is_loaded_in_order(
    root_ca: CertificateAuthority, intermediate_ca: CertificateAuthority
) -> None:
    certificates = [intermediate_ca.certificate, root_ca.certificate, intermediate_ca.certificate]
    pem = certificates_to_pem(certificates)
    assert pem.count(b"-----BEGIN CERTIFICATE-----") == 3
    assert load_certificates_pem(pem) == certificates


def test_text_around_the_pem_blocks_is_ignored(root_ca: CertificateAuthority) -> None:
    pem = b"subject=CN = Test Root\n" + certificates_to_pem([root_ca.certificate]) + b"\ntrailer\n"
    assert load_certificates_pem(pem) == [root_ca.certificate]


def test_certificates_to_pem_of_nothing_is_empty() -> None:
    assert certificates_to_pem([]) == b""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no PEM certificate found"),
        (b"not pem", "no PEM certificate found"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "no PEM certificate found"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "malformed PEM certificate data"),
    ],
    ids=["empty", "text", "key-only", "broken-base64-body"],
)
def test_unreadable_certificates_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(PKIError, match=f"^{message}$") as caught:
        load_certificates_pem(data)
    assert caught.value.reason == "InvalidCertificate"


def test_der_is_not_pem(root_ca: CertificateAuthority) -> None:
    with pytest.raises(PKIError, match="no PEM certificate found"):
        load_certificates_pem(root_ca.certificate.public_bytes(serialization.Encoding.DER))

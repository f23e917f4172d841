from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography import x509

from certmint.pki import (
    CertificateAuthority,
    PKIError,
    RevocationReason,
    RevokedCertificate,
    build_crl,
    crl_to_der,
    crl_to_pem,
    parse_crl,
)
from tests.unit.pki.support import NOW


def test_a_crl_is_signed_ordered_by_serial_and_carries_its_number_and_aki(
    intermediate_ca: CertificateAuthority,
) -> None:
    entries = [
        RevokedCertificate(300, NOW - timedelta(hours=1), RevocationReason.KEY_COMPROMISE),
        RevokedCertificate(100, NOW - timedelta(hours=2)),
        RevokedCertificate(200, NOW - timedelta(hours=3), RevocationReason.SUPERSEDED),
    ]
    crl = build_crl(intermediate_ca, entries, NOW, timedelta(hours=6), crl_number=7)
    assert crl.is_signature_valid(intermediate_ca.private_key.public_key())
    assert crl.issuer == intermediate_ca.certificate.subject
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + timedelta(hours=6)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = intermediate_ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert [item.serial_number for item in crl] == [100, 200, 300]


def test_unspecified_is_expressed_by_omitting_the_reason(root_ca: CertificateAuthority) -> None:
    crl = build_crl(root_ca, [RevokedCertificate(5, NOW)], NOW, timedelta(hours=1), 1)
    entry = crl.get_revoked_certificate_by_serial_number(5)
    assert entry is not None
    assert len(entry.extensions) == 0


@pytest.mark.parametrize("encode", [crl_to_pem, crl_to_der], ids=["pem", "der"])
def test_every_reason_round_trips(
    root_ca: CertificateAuthority, encode: Callable[[x509.CertificateRevocationList], bytes]
) -> None:
    entries = [
        RevokedCertificate(serial, NOW - timedelta(minutes=serial), reason)
        for serial, reason in enumerate(RevocationReason, start=1)
    ]
    crl = build_crl(root_ca, reversed(entries), NOW, timedelta(hours=1), 2)
    assert parse_crl(encode(crl)) == entries


def test_pem_and_der_encodings_are_the_same_crl(root_ca: CertificateAuthority) -> None:
    crl = build_crl(root_ca, [RevokedCertificate(9, NOW)], NOW, timedelta(hours=1), 1)
    assert crl_to_pem(crl).startswith(b"-----BEGIN X509 CRL-----")
    assert x509.load_pem_x509_crl(crl_to_pem(crl)) == x509.load_der_x509_crl(crl_to_der(crl)) == crl


def test_a_serial_revoked_twice_is_listed_once_from_its_earliest_revocation(
    root_ca: CertificateAuthority,
) -> None:
    later = RevokedCertificate(42, NOW - timedelta(hours=1), RevocationReason.SUPERSEDED)
    earlier = RevokedCertificate(42, NOW - timedelta(hours=5), RevocationReason.KEY_COMPROMISE)
    crl = build_crl(root_ca, [later, earlier, RevokedCertificate(7, NOW)], NOW, timedelta(hours=1), 1)
    assert parse_crl(crl_to_der(crl)) == [RevokedCertificate(7, NOW), earlier]


def test_an_empty_crl_is_valid(root_ca: CertificateAuthority) -> None:
    crl = build_crl(root_ca, [], NOW, timedelta(hours=1), 0)
    assert len(crl) == 0
    assert parse_crl(crl_to_pem(crl)) == []


@pytest.mark.parametrize(
    ("revoked", "validity", "number", "message"),
    [
        ([], timedelta(0), 1, "^CRL validity must be positive$"),
        ([], timedelta(hours=-1), 1, "^CRL validity must be positive$"),
        ([], timedelta(hours=1), -1, "^CRL number must not be negative, got -1$"),
        (
            [RevokedCertificate(0, NOW)],
            timedelta(hours=1),
            1,
            r"^0 is not a certificate serial number \(1 to",
        ),
        ([RevokedCertificate(2**159, NOW)], timedelta(hours=1), 1, "is not a certificate serial number"),
    ],
    ids=["zero-validity", "negative-validity", "negative-number", "zero-serial", "too-long-serial"],
)
def test_impossible_crls_are_refused(
    root_ca: CertificateAuthority,
    revoked: list[RevokedCertificate],
    validity: timedelta,
    number: int,
    message: str,
) -> None:
    with pytest.raises(PKIError, match=message) as caught:
        build_crl(root_ca, revoked, NOW, validity, number)
    assert caught.value.reason == "InvalidRequest"


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30\x03junk", b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", b"  -----BEGIN junk"],
    ids=["empty", "bad-der", "bad-pem", "bad-pem-with-leading-space"],
)
def test_parse_crl_rejects_garbage(data: bytes) -> None:
    with pytest.raises(PKIError, match=r"^not a CRL: ") as caught:
        parse_crl(data)
    assert caught.value.reason == "InvalidCRL"

import hashlib
import itertools
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    PKIError,
    assemble_bundle,
    certificates_to_pem,
    create_root_ca,
)
from tests.unit.pki.support import NOW


def _pem(ca: CertificateAuthority) -> bytes:
    return certificates_to_pem([ca.certificate])


def test_bundles_are_deduplicated_sorted_and_digested(
    root_ca: CertificateAuthority, intermediate_ca: CertificateAuthority
) -> None:
    other = create_root_ca(CARequest("Another Root", timedelta(days=30)), NOW)
    bundle = assemble_bundle([_pem(root_ca), _pem(other) + _pem(intermediate_ca), _pem(root_ca) * 2])
    # "CN=Another Root" < "CN=Test Issuing" < "CN=Test Root"
    assert bundle.certificates == (other.certificate, intermediate_ca.certificate, root_ca.certificate)
    assert bundle.pem == certificates_to_pem(bundle.certificates)
    assert bundle.digest == "sha256:" + hashlib.sha256(bundle.pem).hexdigest()


def test_the_same_certificates_in_any_order_and_grouping_give_identical_bytes(
    root_ca: CertificateAuthority, intermediate_ca: CertificateAuthority
) -> None:
    other = create_root_ca(CARequest("Another Root", timedelta(days=30)), NOW)
    blobs = [_pem(root_ca), _pem(other), _pem(intermediate_ca)]
    results = {assemble_bundle(order) for order in itertools.permutations(blobs)}
    results.add(assemble_bundle([b"".join(reversed(blobs))]))
    assert len(results) == 1
    assert assemble_bundle([_pem(root_ca)]).digest != results.pop().digest


def test_equal_subjects_are_ordered_by_start_then_fingerprint() -> None:
    request = CARequest("Rotating Root", timedelta(days=30))
    older = create_root_ca(request, NOW - timedelta(days=1))
    twins = [create_root_ca(request, NOW) for _ in range(2)]
    twins.sort(key=lambda ca: ca.certificate.fingerprint(hashes.SHA256()))
    bundle = assemble_bundle([_pem(twins[1]), _pem(older), _pem(twins[0])])
    assert bundle.certificates == (older.certificate, twins[0].certificate, twins[1].certificate)


def test_with_now_expired_certificates_are_dropped_but_future_ones_kept(
    root_ca: CertificateAuthority,
) -> None:
    expired = create_root_ca(CARequest("Old Root", timedelta(days=1)), NOW - timedelta(days=10))
    upcoming = create_root_ca(CARequest("Next Root", timedelta(days=30)), NOW + timedelta(days=2))
    sources = [_pem(root_ca), _pem(expired), _pem(upcoming)]
    assert len(assemble_bundle(sources).certificates) == 3
    assert assemble_bundle(sources, now=NOW).certificates == (upcoming.certificate, root_ca.certificate)


def test_no_sources_make_an_empty_bundle() -> None:
    bundle = assemble_bundle([])
    assert (bundle.certificates, bundle.pem) == ((), b"")
    assert bundle.digest == "sha256:" + hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"not pem", "^bundle source 1: no PEM certificate found$"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "^bundle source 1: malformed PEM",
        ),
    ],
    ids=["no-pem", "malformed"],
)
def test_a_bad_source_is_named_by_its_index(root_ca: CertificateAuthority, bad: bytes, message: str) -> None:
    with pytest.raises(PKIError, match=message) as caught:
        assemble_bundle([_pem(root_ca), bad, _pem(root_ca)])
    assert caught.value.reason == "InvalidCertificate"

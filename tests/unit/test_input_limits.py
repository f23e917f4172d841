"""No single input makes certmint do unbounded work: names per certificate and per CSR, bytes per
CSR, PEM blocks per input; duplicate names found in linear time."""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from certmint.api.certificate import CertificateSpec
from certmint.api.crd import structural_schema
from certmint.pki import (
    MAX_NAMES_PER_KIND,
    MAX_ORGANIZATIONS,
    MAX_PEM_BLOCKS,
    MAX_REQUEST_BYTES,
    LeafRequest,
    PKIError,
    build_crl,
    crl_to_pem,
    load_certificates_pem,
    load_crls_pem,
    load_csr,
    validate_leaf_request,
)
from certmint.pki.leaf import duplicates
from certmint.planning import reasons
from certmint.planning.csrs.plan import Deny, Sign
from certmint.planning.gates import Fail
from tests.limit_material import ip_addresses, oversized_csr, padded_to, raw_csr
from tests.unit.planning_fixtures import NOW, make_ca
from tests.unit.test_csr_planning import CA, auto, csr_body, plan


def _names(kind: str, count: int) -> tuple[str, ...]:
    if kind == "dns_names":
        return tuple(f"host-{index}.example.com" for index in range(count))
    if kind == "ip_addresses":
        return tuple(ip_addresses(count))
    if kind == "uris":
        return tuple(f"https://example.com/{index}" for index in range(count))
    return tuple(f"user{index}@example.com" for index in range(count))


KINDS = ("dns_names", "ip_addresses", "uris", "email_addresses")


def test_the_crd_and_the_signer_share_one_cap() -> None:
    schema = structural_schema(CertificateSpec)
    for field in ("dnsNames", "ipAddresses", "uris", "emailAddresses"):
        assert schema["properties"][field]["maxItems"] == MAX_NAMES_PER_KIND
    assert schema["properties"]["organizations"]["maxItems"] == MAX_ORGANIZATIONS
    assert MAX_NAMES_PER_KIND == 256


@pytest.mark.parametrize("kind", KINDS)
def test_a_certificate_may_carry_exactly_the_cap_of_each_kind(kind: str) -> None:
    validate_leaf_request(LeafRequest(**{kind: _names(kind, MAX_NAMES_PER_KIND)}))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_one_name_over_the_cap_is_refused(kind: str) -> None:
    request = LeafRequest(**{kind: _names(kind, MAX_NAMES_PER_KIND + 1)})  # type: ignore[arg-type]
    with pytest.raises(PKIError) as raised:
        validate_leaf_request(request)
    assert raised.value.reason == reasons.TOO_MANY_NAMES
    assert f"{MAX_NAMES_PER_KIND + 1}" in raised.value.message
    assert f"at most {MAX_NAMES_PER_KIND}" in raised.value.message


def test_the_count_is_checked_before_any_name_is_validated() -> None:
    """257 malformed names: the answer is the count, not the first bad name."""
    request = LeafRequest(dns_names=tuple(f"-bad-{index}-" for index in range(MAX_NAMES_PER_KIND + 1)))
    with pytest.raises(PKIError) as raised:
        validate_leaf_request(request)
    assert raised.value.reason == reasons.TOO_MANY_NAMES


def test_organizations_are_capped_like_the_crd() -> None:
    validate_leaf_request(LeafRequest(common_name="x", organization=("o",) * MAX_ORGANIZATIONS))
    with pytest.raises(PKIError) as raised:
        validate_leaf_request(LeafRequest(common_name="x", organization=("o",) * (MAX_ORGANIZATIONS + 1)))
    assert raised.value.reason == reasons.TOO_MANY_NAMES


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abc", max_size=3), max_size=40))
def test_duplicates_equal_the_quadratic_reference(values: list[str]) -> None:
    reference = sorted({value for value in values if values.count(value) > 1})
    assert duplicates(values) == reference


@pytest.mark.parametrize(
    ("request_", "duplicate"),
    [
        (LeafRequest(dns_names=("a.example.com", "A.example.com")), "a.example.com"),
        (LeafRequest(ip_addresses=("::1", "0:0::1")), "::1"),
        (LeafRequest(uris=("https://x/a", "https://x/a")), "https://x/a"),
    ],
)
def test_duplicates_are_still_refused(request_: LeafRequest, duplicate: str) -> None:
    with pytest.raises(PKIError, match="duplicate") as raised:
        validate_leaf_request(request_)
    assert duplicate in raised.value.message


def test_a_csr_with_exactly_the_cap_of_names_is_read() -> None:
    request = load_csr(raw_csr(ip_addresses=tuple(ip_addresses(MAX_NAMES_PER_KIND))))
    assert len(request.names.ip_addresses) == MAX_NAMES_PER_KIND


@pytest.mark.parametrize("kind", ["dns_names", "ip_addresses", "uris"])
def test_a_csr_with_one_name_too_many_is_refused(kind: str) -> None:
    pem = raw_csr(**{kind: _names(kind, MAX_NAMES_PER_KIND + 1)})  # type: ignore[arg-type]
    with pytest.raises(PKIError) as raised:
        load_csr(pem)
    assert raised.value.reason == reasons.TOO_MANY_NAMES


def test_a_csr_counts_are_checked_before_its_names_are_validated() -> None:
    pem = raw_csr(dns_names=tuple(f"-bad-{index}-" for index in range(MAX_NAMES_PER_KIND + 1)))
    with pytest.raises(PKIError) as raised:
        load_csr(pem)
    assert raised.value.reason == reasons.TOO_MANY_NAMES


def test_a_csr_subject_with_too_many_organizations_is_refused() -> None:
    with pytest.raises(PKIError) as raised:
        load_csr(raw_csr(common_name="x", organizations=("o",) * (MAX_ORGANIZATIONS + 1)))
    assert raised.value.reason == reasons.TOO_MANY_NAMES


def test_a_csr_of_exactly_the_byte_cap_is_read() -> None:
    pem = padded_to(raw_csr(common_name="at the cap"), MAX_REQUEST_BYTES)
    assert len(pem) == MAX_REQUEST_BYTES
    assert load_csr(pem).names.common_name == "at the cap"


def test_a_csr_one_byte_over_the_cap_is_refused() -> None:
    pem = oversized_csr()
    assert len(pem) == MAX_REQUEST_BYTES + 1
    with pytest.raises(PKIError) as raised:
        load_csr(pem)
    assert raised.value.reason == reasons.REQUEST_TOO_LARGE
    assert str(MAX_REQUEST_BYTES) in raised.value.message


def test_oversized_garbage_is_refused_for_its_size_not_parsed() -> None:
    with pytest.raises(PKIError) as raised:
        load_csr(b"\xff" * (MAX_REQUEST_BYTES + 1))
    assert raised.value.reason == reasons.REQUEST_TOO_LARGE


def test_an_approved_csr_over_the_name_cap_fails_for_good() -> None:
    request = raw_csr(ip_addresses=tuple(ip_addresses(MAX_NAMES_PER_KIND + 1)))
    decided = plan(csr_body(request))
    assert isinstance(decided, Fail)
    assert decided.reason == reasons.TOO_MANY_NAMES
    assert not decided.retryable


def test_an_approved_csr_at_the_name_cap_is_signed() -> None:
    request = raw_csr(ip_addresses=tuple(ip_addresses(MAX_NAMES_PER_KIND)))
    assert isinstance(plan(csr_body(request)), Sign)


def test_an_approved_oversized_csr_fails_for_good() -> None:
    decided = plan(csr_body(oversized_csr()))
    assert isinstance(decided, Fail)
    assert decided.reason == reasons.REQUEST_TOO_LARGE
    assert not decided.retryable


def test_a_pending_csr_over_a_limit_is_denied_by_auto_approval() -> None:
    request = raw_csr(ip_addresses=tuple(ip_addresses(MAX_NAMES_PER_KIND + 1)))
    decided = plan(csr_body(request, conditions=()), issuer=auto())
    assert isinstance(decided, Deny)
    assert reasons.TOO_MANY_NAMES in decided.message


def _certificate_pem() -> bytes:
    return CA.certificate.public_bytes(serialization.Encoding.PEM)


def test_exactly_the_cap_of_pem_blocks_is_read() -> None:
    assert len(load_certificates_pem(_certificate_pem() * MAX_PEM_BLOCKS)) == MAX_PEM_BLOCKS


def test_one_pem_block_over_the_cap_is_refused_before_decoding() -> None:
    """The extra block is garbage: refusing for the count proves nothing was decoded first."""
    data = _certificate_pem() * MAX_PEM_BLOCKS + b"-----BEGIN CERTIFICATE-----\nnot base64\n"
    with pytest.raises(PKIError) as raised:
        load_certificates_pem(data)
    assert raised.value.reason == reasons.TOO_MANY_PEM_BLOCKS
    assert str(MAX_PEM_BLOCKS) in raised.value.message


def test_crl_files_are_bounded_too() -> None:
    ca = make_ca()
    crl = crl_to_pem(build_crl(ca, [], NOW, timedelta(days=1), 1))
    assert len(load_crls_pem(crl * MAX_PEM_BLOCKS)) == MAX_PEM_BLOCKS
    with pytest.raises(PKIError) as raised:
        load_crls_pem(crl * (MAX_PEM_BLOCKS + 1))
    assert raised.value.reason == reasons.TOO_MANY_PEM_BLOCKS

"""Whatever validate_leaf_request accepts becomes a certificate a TLS peer accepts, with exactly its SANs."""

import ipaddress

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from certmint.pki import (
    CertificateAuthority,
    KeySpec,
    LeafRequest,
    Purpose,
    issue_leaf,
    summarize_certificate,
    validate_leaf_request,
    verify_certificate,
)
from tests.unit.pki.support import NOW

_label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,14}[a-zA-Z0-9])?", fullmatch=True)
_hostname = st.lists(_label, min_size=2, max_size=4).map(".".join).filter(lambda name: not _is_ip(name))
_dns_name = st.one_of(_hostname, _hostname.map(lambda name: f"*.{name}"))
_ip = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
_segment = st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True).filter(lambda s: s not in {".", ".."})
_trust_domain = st.from_regex(r"[a-z0-9._-]{1,20}", fullmatch=True)
_spiffe_id = st.builds(
    lambda domain, path: f"spiffe://{domain}" + "".join(f"/{segment}" for segment in path),
    _trust_domain,
    st.lists(_segment, max_size=4),
)
_email = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.from_regex(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,12}", fullmatch=True),
    _hostname,
)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@st.composite
def leaf_requests(draw: st.DrawFn) -> LeafRequest:
    """Requests with at least one SAN: cryptography's verifier, like browsers, requires the extension."""
    request = LeafRequest(
        common_name=draw(st.one_of(st.none(), st.text("abcdefghij -", min_size=1, max_size=20))),
        dns_names=tuple(draw(st.lists(_dns_name, max_size=4, unique_by=str.lower))),
        ip_addresses=tuple(draw(st.lists(_ip, max_size=3, unique_by=ipaddress.ip_address))),
        uris=tuple(draw(st.lists(_spiffe_id, max_size=2, unique=True))),
        email_addresses=tuple(draw(st.lists(_email, max_size=2, unique=True))),
    )
    if not request.has_sans:
        return LeafRequest(common_name=request.common_name, uris=(draw(_spiffe_id),))
    return request


def _expected_sans(request: LeafRequest) -> list[x509.GeneralName]:
    return [
        *(x509.DNSName(name) for name in request.dns_names),
        *(x509.IPAddress(ipaddress.ip_address(address)) for address in request.ip_addresses),
        *(x509.UniformResourceIdentifier(uri) for uri in request.uris),
        *(x509.RFC822Name(email) for email in request.email_addresses),
    ]


@pytest.fixture(scope="session", params=["root", "intermediate"])
def issuer(
    request: pytest.FixtureRequest, root_ca: CertificateAuthority, intermediate_ca: CertificateAuthority
) -> CertificateAuthority:
    return root_ca if request.param == "root" else intermediate_ca


@settings(max_examples=50, deadline=None)
@given(request_=leaf_requests())
def test_a_valid_request_verifies_and_carries_exactly_its_sans(
    issuer: CertificateAuthority, request_: LeafRequest
) -> None:
    validate_leaf_request(request_)
    _, cert = issue_leaf(request_, KeySpec(), issuer, NOW)

    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(sans) == _expected_sans(request_)
    summary = summarize_certificate(cert)
    assert summary.dns_names == request_.dns_names
    assert summary.ip_addresses == tuple(str(ipaddress.ip_address(a)) for a in request_.ip_addresses)
    assert summary.uris == request_.uris
    assert summary.email_addresses == request_.email_addresses

    intermediates = [cert for cert in (issuer.certificate, *issuer.chain) if cert != issuer.root]
    roots = [issuer.root]
    verify_certificate(cert, intermediates, roots, NOW, Purpose.CLIENT)
    if request_.dns_names:
        server_name = request_.dns_names[0].replace("*", "anything", 1)
        verify_certificate(cert, intermediates, roots, NOW, Purpose.SERVER, server_name)
    if request_.ip_addresses:
        verify_certificate(cert, intermediates, roots, NOW, Purpose.SERVER, request_.ip_addresses[0])

import ipaddress
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certmint.pki import (
    CertificateAuthority,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    PKIError,
    Purpose,
    Usage,
    generate_private_key,
    issue_leaf,
    sign_leaf,
    summarize_certificate,
    validate_leaf_request,
    verify_certificate,
)
from tests.unit.pki.conftest import NOW


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (LeafRequest(), "needs a common name or at least one subject alternative name"),
        (LeafRequest(common_name="x" * 65), "common name must be 1 to 64 characters"),
        (LeafRequest(common_name="a", duration=timedelta(0)), "duration must be positive"),
        (LeafRequest(dns_names=("",)), "DNS name is empty"),
        (LeafRequest(dns_names=("a" * 250 + ".com",)), "longer than 253 characters"),
        (LeafRequest(dns_names=("10.0.0.1",)), "is an IP address; put it in ipAddresses"),
        (LeafRequest(dns_names=("*",)), "must cover a domain of at least two labels"),
        (LeafRequest(dns_names=("*.com",)), "must cover a domain of at least two labels"),
        (LeafRequest(dns_names=("a*.example.com",)), "a wildcard may only be the whole left-most label"),
        (LeafRequest(dns_names=("x.*.example.com",)), "a wildcard may only be the whole left-most label"),
        (LeafRequest(dns_names=("*.*.example.com",)), "a wildcard may only be the whole left-most label"),
        (LeafRequest(dns_names=("-web.example.com",)), "label '-web' must be 1-63 letters"),
        (LeafRequest(dns_names=("web_1.example.com",)), "label 'web_1' must be 1-63 letters"),
        (LeafRequest(dns_names=("a..b",)), "label '' must be 1-63 letters"),
        (
            LeafRequest(dns_names=("web.example.com", "WEB.example.com")),
            "duplicate DNS name: web.example.com",
        ),
        (LeafRequest(ip_addresses=("300.1.1.1",)), "'300.1.1.1' is not an IPv4 or IPv6 address"),
        (LeafRequest(ip_addresses=("::1", "0:0:0:0:0:0:0:1")), "duplicate IP address: ::1"),
        (LeafRequest(uris=("no-scheme",)), "needs a scheme"),
        (LeafRequest(uris=("SPIFFE://td/x",)), "must start with lowercase spiffe://"),
        (LeafRequest(uris=("spiffe://TD/x",)), "trust domain must be lowercase"),
        (LeafRequest(uris=("spiffe://td:8080/x",)), "must not have user info or a port"),
        (LeafRequest(uris=("spiffe://user@td/x",)), "must not have user info or a port"),
        (LeafRequest(uris=("spiffe://td/x?y=1",)), "must not have a query or fragment"),
        (LeafRequest(uris=("spiffe://td/x#frag",)), "must not have a query or fragment"),
        (LeafRequest(uris=("spiffe://td/",)), "must not end with '/'"),
        (LeafRequest(uris=("spiffe://td/a//b",)), "path segments must not be empty, '.' or '..'"),
        (LeafRequest(uris=("spiffe://td/a/../b",)), "path segments must not be empty, '.' or '..'"),
        (LeafRequest(uris=("spiffe://td/a b",)), "path segment 'a b' may only use"),
        (LeafRequest(uris=("spiffe://td/" + "a" * 2048,)), "longer than 2048 bytes"),
        (LeafRequest(uris=("spiffe://td/x", "spiffe://td/x")), "duplicate URI: spiffe://td/x"),
        (LeafRequest(email_addresses=("nobody",)), "is not an email address"),
        (LeafRequest(email_addresses=("a@bad_domain",)), "label 'bad_domain'"),
        (LeafRequest(common_name="a", crl_distribution_points=("nope",)), "needs a scheme"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_requests_a_verifier_would_reject_are_refused_precisely(request_: LeafRequest, message: str) -> None:
    with pytest.raises(PKIError, match=message.replace("*", r"\*").replace("?", r"\?")) as caught:
        validate_leaf_request(request_)
    assert caught.value.reason == "InvalidRequest"


@pytest.mark.parametrize(
    "request_",
    [
        LeafRequest(common_name="just a name"),
        LeafRequest(dns_names=("*.example.com", "example.com", "xn--bcher-kva.example")),
        LeafRequest(ip_addresses=("127.0.0.1", "::1")),
        LeafRequest(uris=("spiffe://cluster.local/ns/a/sa/b", "spiffe://td", "https://example.com/x")),
        LeafRequest(email_addresses=("ops@example.com",)),
    ],
)
def test_valid_requests_pass(request_: LeafRequest) -> None:
    validate_leaf_request(request_)


def test_a_leaf_carries_what_was_asked(root_ca: CertificateAuthority) -> None:
    request = LeafRequest(
        common_name="web",
        organization=("Shop",),
        dns_names=("web.shop.svc",),
        ip_addresses=("10.1.2.3",),
        uris=("spiffe://cluster.local/ns/shop/sa/web",),
        email_addresses=("web@shop.example",),
        duration=timedelta(hours=1),
        crl_distribution_points=("http://127.0.0.1:8080/crl/ca.crl",),
        ocsp_urls=("http://127.0.0.1:8080/ocsp",),
    )
    key, cert = issue_leaf(request, KeySpec(), root_ca, NOW)
    summary = summarize_certificate(cert)
    assert summary.subject == "CN=web,O=Shop"
    assert summary.dns_names == ("web.shop.svc",)
    assert summary.ip_addresses == ("10.1.2.3",)
    assert summary.uris == ("spiffe://cluster.local/ns/shop/sa/web",)
    assert summary.email_addresses == ("web@shop.example",)
    assert summary.not_after == NOW + timedelta(hours=1)
    assert summary.not_before == NOW - timedelta(minutes=1)
    assert not summary.is_ca
    assert summary.key_type == "ECDSA P-256"
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name == [x509.UniformResourceIdentifier("http://127.0.0.1:8080/crl/ca.crl")]
    access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert access[0].access_location == x509.UniformResourceIdentifier("http://127.0.0.1:8080/ocsp")
    assert not cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    cert.verify_directly_issued_by(root_ca.certificate)
    assert key.public_key() == cert.public_key()


def test_an_empty_subject_makes_the_sans_critical(root_ca: CertificateAuthority) -> None:
    _, cert = issue_leaf(LeafRequest(uris=("spiffe://td/w",)), KeySpec(), root_ca, NOW)
    assert len(cert.subject) == 0
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


@pytest.mark.parametrize(
    ("algorithm", "key_encipherment"),
    [(KeyAlgorithm.ECDSA, False), (KeyAlgorithm.RSA, True), (KeyAlgorithm.ED25519, False)],
)
def test_default_usages_depend_on_the_key(
    root_ca: CertificateAuthority, algorithm: KeyAlgorithm, key_encipherment: bool
) -> None:
    spec = KeySpec(algorithm, 2048 if algorithm == KeyAlgorithm.RSA else 256)
    _, cert = issue_leaf(LeafRequest(common_name="a"), spec, root_ca, NOW)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment == key_encipherment
    assert not usage.key_cert_sign
    extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_explicit_usages_and_ca_leaves(root_ca: CertificateAuthority) -> None:
    _, client_only = issue_leaf(
        LeafRequest(common_name="a", usages=(Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH)),
        KeySpec(),
        root_ca,
        NOW,
    )
    assert list(client_only.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    _, sub_ca = issue_leaf(LeafRequest(common_name="sub", is_ca=True), KeySpec(), root_ca, NOW)
    assert sub_ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert sub_ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert summarize_certificate(sub_ca).is_ca


def test_lifetime_is_clamped_to_the_ca(root_ca: CertificateAuthority) -> None:
    _, cert = issue_leaf(LeafRequest(common_name="a", duration=timedelta(days=3650)), KeySpec(), root_ca, NOW)
    assert cert.not_valid_after_utc == root_ca.certificate.not_valid_after_utc


def test_serials_are_random_and_long(root_ca: CertificateAuthority) -> None:
    key = generate_private_key(KeySpec())
    serials = {
        sign_leaf(LeafRequest(common_name="a"), key.public_key(), root_ca, NOW).serial_number
        for _ in range(50)
    }
    assert len(serials) == 50
    assert min(serial.bit_length() for serial in serials) > 128


def test_sign_leaf_validates_first(root_ca: CertificateAuthority) -> None:
    with pytest.raises(PKIError, match="IP address"):
        sign_leaf(
            LeafRequest(dns_names=("1.2.3.4",)), generate_private_key(KeySpec()).public_key(), root_ca, NOW
        )


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_dns = (
    st.lists(_label, min_size=2, max_size=4)
    .map(".".join)
    .filter(lambda name: not name.replace(".", "").isdigit())
)
_ip = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
_segment = st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True).filter(lambda s: s not in {".", ".."})
_spiffe = st.builds(
    lambda td, path: f"spiffe://{td}/" + "/".join(path), _dns, st.lists(_segment, min_size=1, max_size=4)
)
_email = st.builds(
    lambda local, domain: f"{local}@{domain}", st.from_regex(r"[a-z0-9.]{1,10}", fullmatch=True), _dns
)


@st.composite
def leaf_requests(draw: st.DrawFn) -> LeafRequest:
    dns = draw(st.lists(_dns, max_size=4, unique=True))
    ips = draw(st.lists(_ip, max_size=3, unique_by=ipaddress.ip_address))
    uris = draw(st.lists(_spiffe, max_size=2, unique=True))
    emails = draw(st.lists(_email, max_size=2, unique=True))
    common_name = draw(st.one_of(st.none(), st.text("abcdefghij -", min_size=1, max_size=20)))
    if not (dns or ips or uris or emails or common_name):
        common_name = "fallback"
    return LeafRequest(
        common_name=common_name,
        dns_names=tuple(dns),
        ip_addresses=tuple(ips),
        uris=tuple(uris),
        email_addresses=tuple(emails),
        duration=timedelta(minutes=draw(st.integers(1, 60 * 24 * 400))),
    )


@settings(max_examples=60, deadline=None)
@given(request_=leaf_requests())
def test_any_valid_request_verifies_and_carries_exactly_its_sans(
    root_ca: CertificateAuthority, request_: LeafRequest
) -> None:
    _, cert = issue_leaf(request_, KeySpec(), root_ca, NOW)
    summary = summarize_certificate(cert)
    assert summary.dns_names == request_.dns_names
    assert summary.ip_addresses == tuple(str(ipaddress.ip_address(a)) for a in request_.ip_addresses)
    assert summary.uris == request_.uris
    assert summary.email_addresses == request_.email_addresses
    if request_.dns_names or request_.ip_addresses or request_.uris or request_.email_addresses:
        verify_certificate(cert, [], [root_ca.certificate], NOW, Purpose.CLIENT)
    if request_.dns_names:
        verify_certificate(cert, [], [root_ca.certificate], NOW, Purpose.SERVER, request_.dns_names[0])

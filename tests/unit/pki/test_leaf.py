import re
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    PKIError,
    Usage,
    create_root_ca,
    generate_private_key,
    issue_leaf,
    sign_leaf,
    summarize_certificate,
    validate_leaf_request,
)
from tests.unit.pki.support import NOW

INVALID_REQUESTS = [
    (LeafRequest(), "a certificate needs a common name or at least one subject alternative name"),
    (
        LeafRequest(common_name=""),
        "a certificate needs a common name or at least one subject alternative name",
    ),
    (LeafRequest(common_name="", dns_names=("a.example",)), "common name must be 1 to 64 bytes in UTF-8"),
    (LeafRequest(common_name="x" * 65), "common name must be 1 to 64 bytes in UTF-8"),
    (LeafRequest(common_name="a", organization=("",)), "organization '' must be 1 to 64 bytes in UTF-8"),
    (LeafRequest(common_name="a", organization=("o" * 65,)), f"organization '{'o' * 65}' must be 1 to 64"),
    (LeafRequest(common_name="a", duration=timedelta(0)), "duration must be positive"),
    (LeafRequest(common_name="a", duration=timedelta(seconds=-1)), "duration must be positive"),
    (LeafRequest(dns_names=("",)), "DNS name is empty"),
    (LeafRequest(dns_names=("a" * 250 + ".com",)), f"DNS name {'a' * 40}... is longer than 253 characters"),
    (LeafRequest(dns_names=("10.0.0.1",)), "DNS name '10.0.0.1' is an IP address; put it in ipAddresses"),
    (LeafRequest(dns_names=("::1",)), "DNS name '::1' is an IP address; put it in ipAddresses"),
    (LeafRequest(dns_names=("*",)), "wildcard DNS name '*' must cover a domain of at least two labels"),
    (
        LeafRequest(dns_names=("*.com",)),
        "wildcard DNS name '*.com' must cover a domain of at least two labels",
    ),
    (
        LeafRequest(dns_names=("a*.example.com",)),
        "'a*.example.com': a wildcard may only be the whole left-most",
    ),
    (LeafRequest(dns_names=("x.*.example.com",)), "'x.*.example.com': a wildcard may only be the whole left"),
    (LeafRequest(dns_names=("*.*.example.com",)), "'*.*.example.com': a wildcard may only be the whole left"),
    (LeafRequest(dns_names=("-web.example.com",)), "label '-web' must be 1-63 letters, digits or hyphens"),
    (LeafRequest(dns_names=("web-.example.com",)), "label 'web-' must be 1-63 letters, digits or hyphens"),
    (LeafRequest(dns_names=("web_1.example.com",)), "label 'web_1' must be 1-63 letters"),
    (LeafRequest(dns_names=("a" * 64 + ".example",)), f"label '{'a' * 64}' must be 1-63 letters"),
    (LeafRequest(dns_names=("a..b",)), "DNS name 'a..b': label '' must be 1-63 letters"),
    (LeafRequest(dns_names=("example.com.",)), "DNS name 'example.com.': label '' must be 1-63 letters"),
    (LeafRequest(dns_names=("example.com\n",)), "label 'com\\n' must be 1-63 letters"),
    (LeafRequest(dns_names=("bücher.example",)), "label 'bücher' must be 1-63 letters"),
    (LeafRequest(dns_names=("web.example.com", "WEB.example.com")), "duplicate DNS name: web.example.com"),
    (LeafRequest(ip_addresses=("300.1.1.1",)), "'300.1.1.1' is not an IPv4 or IPv6 address"),
    (LeafRequest(ip_addresses=("example.com",)), "'example.com' is not an IPv4 or IPv6 address"),
    (LeafRequest(ip_addresses=("10.0.0.0/8",)), "'10.0.0.0/8' is not an IPv4 or IPv6 address"),
    (LeafRequest(ip_addresses=("fe80::1%1",)), "'fe80::1%1' is not an IPv4 or IPv6 address"),
    (LeafRequest(ip_addresses=("",)), "'' is not an IPv4 or IPv6 address"),
    (LeafRequest(ip_addresses=("::1", "0:0:0:0:0:0:0:1")), "duplicate IP address: ::1"),
    (LeafRequest(uris=("no-scheme",)), "URI 'no-scheme' needs a scheme and a host or path"),
    (LeafRequest(uris=("https:",)), "URI 'https:' needs a scheme and a host or path"),
    (
        LeafRequest(uris=("https://exämple.com/",)),
        "must be ASCII without spaces; percent-encode anything else",
    ),
    (LeafRequest(uris=("https://a b/",)), "URI 'https://a b/' must be ASCII without spaces"),
    (LeafRequest(uris=("https://a/\n",)), "must be ASCII without spaces"),
    (LeafRequest(uris=("http://[::1",)), "URI 'http://[::1' does not parse: Invalid IPv6 URL"),
    (LeafRequest(uris=("SPIFFE://td/x",)), "SPIFFE ID 'SPIFFE://td/x' must start with lowercase spiffe://"),
    (LeafRequest(uris=("spiffe:/td/x",)), "SPIFFE ID 'spiffe:/td/x' must start with lowercase spiffe://"),
    (LeafRequest(uris=("spiffe://TD/x",)), "'spiffe://TD/x': trust domain must be lowercase letters, digits"),
    (LeafRequest(uris=("spiffe:///x",)), "'spiffe:///x': trust domain must be lowercase letters, digits"),
    (LeafRequest(uris=("spiffe://t+d/x",)), "'spiffe://t+d/x': trust domain must be lowercase"),
    (LeafRequest(uris=("spiffe://td:8080/x",)), "'spiffe://td:8080/x' must not have user info or a port"),
    (LeafRequest(uris=("spiffe://user@td/x",)), "'spiffe://user@td/x' must not have user info or a port"),
    (LeafRequest(uris=("spiffe://td/x?y=1",)), "'spiffe://td/x?y=1' must not have a query or fragment"),
    (LeafRequest(uris=("spiffe://td/x?",)), "must not have a query or fragment"),
    (LeafRequest(uris=("spiffe://td/x#frag",)), "'spiffe://td/x#frag' must not have a query or fragment"),
    (LeafRequest(uris=("spiffe://td/",)), "SPIFFE ID 'spiffe://td/' must not end with '/'"),
    (LeafRequest(uris=("spiffe://td/a/",)), "path segments must not be empty, '.' or '..'"),
    (
        LeafRequest(uris=("spiffe://td/a//b",)),
        "'spiffe://td/a//b': path segments must not be empty, '.' or '..'",
    ),
    (LeafRequest(uris=("spiffe://td/a/./b",)), "path segments must not be empty, '.' or '..'"),
    (LeafRequest(uris=("spiffe://td/a/../b",)), "path segments must not be empty, '.' or '..'"),
    (
        LeafRequest(uris=("spiffe://td/a%20b",)),
        "path segment 'a%20b' may only use letters, digits, '.', '-', '_'",
    ),
    (LeafRequest(uris=("spiffe://td/a:b",)), "path segment 'a:b' may only use"),
    (LeafRequest(uris=("spiffe://td/" + "a" * 2040,)), "SPIFFE ID is longer than 2048 bytes"),
    (LeafRequest(uris=("spiffe://td/x", "spiffe://td/x")), "duplicate URI: spiffe://td/x"),
    (LeafRequest(email_addresses=("nobody",)), "'nobody' is not an email address (local@domain)"),
    (LeafRequest(email_addresses=("@example.com",)), "'@example.com' is not an email address"),
    (LeafRequest(email_addresses=("a@",)), "'a@' is not an email address"),
    (LeafRequest(email_addresses=("a@b@example.com",)), "'a@b@example.com' is not an email address"),
    (LeafRequest(email_addresses=("a b@example.com",)), "'a b@example.com' is not an email address"),
    (LeafRequest(email_addresses=("jö@example.com",)), "'jö@example.com' is not an email address"),
    (LeafRequest(email_addresses=("a@bad_domain",)), "DNS name 'bad_domain': label 'bad_domain'"),
    (
        LeafRequest(email_addresses=("a@*.example.com",)),
        "'a@*.example.com' must not have a wildcard domain",
    ),
    (LeafRequest(email_addresses=("a@x.org", "a@x.org")), "duplicate email address: a@x.org"),
    (LeafRequest(common_name="a", crl_distribution_points=("nope",)), "URI 'nope' needs a scheme"),
    (LeafRequest(common_name="a", ocsp_urls=("http://[::1",)), "URI 'http://[::1' does not parse"),
]


@pytest.mark.parametrize(("request_", "message"), INVALID_REQUESTS, ids=[m for _, m in INVALID_REQUESTS])
def test_requests_a_verifier_would_reject_are_refused_precisely(request_: LeafRequest, message: str) -> None:
    with pytest.raises(PKIError, match=re.escape(message)) as caught:
        validate_leaf_request(request_)
    assert caught.value.reason == "InvalidRequest"


@pytest.mark.parametrize(
    "request_",
    [
        LeafRequest(common_name="just a name"),
        LeafRequest(dns_names=("*.example.com", "example.com", "xn--bcher-kva.example", "localhost")),
        LeafRequest(dns_names=("Web.Example.COM", "a" * 63 + ".example", "1-2.example", "svc.123")),
        LeafRequest(ip_addresses=("127.0.0.1", "::1", "2001:db8::8a2e:370:7334", "::ffff:10.0.0.1")),
        LeafRequest(uris=("spiffe://cluster.local/ns/a/sa/b", "spiffe://td", "https://example.com/x?q=1")),
        LeafRequest(
            uris=("spiffe://my_td-1.example/A.b-c_d/0", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")
        ),
        LeafRequest(uris=("spiffe://td/" + "a" * 2036,)),
        LeafRequest(email_addresses=("ops@example.com", "first.last+tag@sub.example.org")),
        LeafRequest(dns_names=("same.example",), uris=("https://same.example",)),
        LeafRequest(common_name="a", crl_distribution_points=("http://crl.example/ca.crl",)),
    ],
)
def test_valid_requests_pass(request_: LeafRequest) -> None:
    validate_leaf_request(request_)


def test_a_leaf_carries_what_was_asked(root_ca: CertificateAuthority) -> None:
    request = LeafRequest(
        common_name="web",
        organization=("Shop", "Platform"),
        dns_names=("web.shop.svc", "*.web.shop.svc"),
        ip_addresses=("10.1.2.3", "2001:db8::1"),
        uris=("spiffe://cluster.local/ns/shop/sa/web",),
        email_addresses=("web@shop.example",),
        duration=timedelta(hours=1),
        crl_distribution_points=("http://127.0.0.1:8080/crl/ca.crl",),
        ocsp_urls=("http://127.0.0.1:8080/ocsp",),
    )
    key, cert = issue_leaf(request, KeySpec(), root_ca, NOW)
    summary = summarize_certificate(cert)
    assert summary.subject == "CN=web,O=Platform,O=Shop"
    assert summary.issuer == "CN=Test Root"
    assert summary.dns_names == ("web.shop.svc", "*.web.shop.svc")
    assert summary.ip_addresses == ("10.1.2.3", "2001:db8::1")
    assert summary.uris == ("spiffe://cluster.local/ns/shop/sa/web",)
    assert summary.email_addresses == ("web@shop.example",)
    assert summary.not_after == NOW + timedelta(hours=1)
    assert summary.not_before == NOW - timedelta(minutes=1)
    assert not summary.is_ca
    assert summary.key_type == "ECDSA P-256"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert not constraints.value.ca
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root_ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [point.full_name for point in points] == [
        [x509.UniformResourceIdentifier("http://127.0.0.1:8080/crl/ca.crl")]
    ]
    access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(item.access_method, item.access_location) for item in access] == [
        (
            x509.oid.AuthorityInformationAccessOID.OCSP,
            x509.UniformResourceIdentifier("http://127.0.0.1:8080/ocsp"),
        )
    ]
    assert not cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    cert.verify_directly_issued_by(root_ca.certificate)
    assert key.public_key() == cert.public_key()


def test_without_sans_crl_or_ocsp_those_extensions_are_absent(root_ca: CertificateAuthority) -> None:
    _, cert = issue_leaf(LeafRequest(common_name="bare"), KeySpec(), root_ca, NOW)
    present = {type(extension.value) for extension in cert.extensions}
    assert x509.SubjectAlternativeName not in present
    assert x509.CRLDistributionPoints not in present
    assert x509.AuthorityInformationAccess not in present
    assert cert.subject.rfc4514_string() == "CN=bare"


def test_an_empty_subject_makes_the_sans_critical(root_ca: CertificateAuthority) -> None:
    _, cert = issue_leaf(LeafRequest(uris=("spiffe://td/w",)), KeySpec(), root_ca, NOW)
    assert len(cert.subject) == 0
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def _usages_of(cert: x509.Certificate) -> tuple[x509.KeyUsage, list[x509.ObjectIdentifier]]:
    key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical
    return key_usage.value, list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


@pytest.mark.parametrize(
    ("spec", "key_encipherment"),
    [(KeySpec(), False), (KeySpec(KeyAlgorithm.RSA, 2048), True), (KeySpec(KeyAlgorithm.ED25519), False)],
    ids=str,
)
def test_default_usages_depend_on_the_key(
    root_ca: CertificateAuthority, spec: KeySpec, key_encipherment: bool
) -> None:
    _, cert = issue_leaf(LeafRequest(common_name="a"), spec, root_ca, NOW)
    key_usage, extended = _usages_of(cert)
    assert key_usage.digital_signature
    assert key_usage.key_encipherment is key_encipherment
    assert not key_usage.key_cert_sign
    assert not key_usage.crl_sign
    assert extended == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_explicit_usages_replace_the_defaults_each_once(root_ca: CertificateAuthority) -> None:
    usages = (
        Usage.DIGITAL_SIGNATURE,
        Usage.KEY_ENCIPHERMENT,
        Usage.CODE_SIGNING,
        Usage.EMAIL_PROTECTION,
        Usage.CODE_SIGNING,
        Usage.CRL_SIGN,
    )
    _, cert = issue_leaf(LeafRequest(common_name="a", usages=usages), KeySpec(), root_ca, NOW)
    key_usage, extended = _usages_of(cert)
    assert (key_usage.digital_signature, key_usage.key_encipherment, key_usage.crl_sign) == (True, True, True)
    assert not key_usage.key_cert_sign
    assert extended == [ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]


def test_extended_usages_alone_leave_key_usage_out(root_ca: CertificateAuthority) -> None:
    _, cert = issue_leaf(LeafRequest(common_name="a", usages=(Usage.CLIENT_AUTH,)), KeySpec(), root_ca, NOW)
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]


def test_key_usages_alone_get_the_tls_extended_usages(root_ca: CertificateAuthority) -> None:
    """No extendedKeyUsage would mean any purpose to OpenSSL and Go: the TLS default instead."""
    request = LeafRequest(common_name="a", usages=(Usage.DIGITAL_SIGNATURE,))
    _, cert = issue_leaf(request, KeySpec(), root_ca, NOW)
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]


def test_a_ca_leaf_can_sign_certificates_and_crls(root_ca: CertificateAuthority) -> None:
    _, cert = issue_leaf(LeafRequest(common_name="sub", is_ca=True), KeySpec(), root_ca, NOW)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key_usage, extended = _usages_of(cert)
    assert key_usage.key_cert_sign
    assert key_usage.crl_sign
    assert key_usage.digital_signature
    assert extended == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert summarize_certificate(cert).is_ca


def test_lifetime_is_clamped_to_the_ca(root_ca: CertificateAuthority) -> None:
    _, cert = issue_leaf(LeafRequest(common_name="a", duration=timedelta(days=3650)), KeySpec(), root_ca, NOW)
    assert cert.not_valid_after_utc == root_ca.certificate.not_valid_after_utc
    just_inside = root_ca.certificate.not_valid_after_utc - NOW - timedelta(seconds=1)
    _, cert = issue_leaf(LeafRequest(common_name="a", duration=just_inside), KeySpec(), root_ca, NOW)
    assert cert.not_valid_after_utc == NOW + just_inside


def test_the_backdate_never_precedes_the_ca() -> None:
    young = create_root_ca(CARequest("Young", timedelta(days=1)), NOW)
    _, early = issue_leaf(LeafRequest(common_name="a"), KeySpec(), young, NOW - timedelta(seconds=30))
    assert early.not_valid_before_utc == young.certificate.not_valid_before_utc


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (NOW + timedelta(days=400), "not at 2027-07-06T12:00:00Z"),
        (NOW - timedelta(days=2), "not at 2026-05-30T12:00:00Z"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_a_ca_outside_its_validity_signs_nothing(
    root_ca: CertificateAuthority, when: datetime, message: str
) -> None:
    key = generate_private_key(KeySpec())
    with pytest.raises(PKIError, match=f"^CA certificate CN=Test Root is valid from .*{message}$") as caught:
        sign_leaf(LeafRequest(common_name="a"), key.public_key(), root_ca, when)
    assert caught.value.reason == "CAExpired"


def test_serials_are_random_and_longer_than_128_bits(root_ca: CertificateAuthority) -> None:
    key = generate_private_key(KeySpec())
    serials = {
        sign_leaf(LeafRequest(common_name="a"), key.public_key(), root_ca, NOW).serial_number
        for _ in range(200)
    }
    assert len(serials) == 200
    assert all(0 < serial < 2**159 for serial in serials)
    # 159 random bits: 200 draws all shorter than 129 bits has probability 2^-6000.
    assert max(serial.bit_length() for serial in serials) > 128
    assert sum(serial.bit_length() > 150 for serial in serials) > 150


@pytest.mark.parametrize(
    ("ca_key", "hash_name"),
    [
        (KeySpec(), "sha256"),
        (KeySpec(KeyAlgorithm.ECDSA, 384), "sha384"),
        (KeySpec(KeyAlgorithm.RSA, 2048), "sha256"),
        (KeySpec(KeyAlgorithm.ED25519), None),
    ],
    ids=str,
)
def test_the_signature_matches_the_ca_key(ca_key: KeySpec, hash_name: str | None) -> None:
    ca = create_root_ca(CARequest("Signer", timedelta(days=1), key=ca_key), NOW)
    _, cert = issue_leaf(LeafRequest(common_name="a"), KeySpec(KeyAlgorithm.ED25519), ca, NOW)
    algorithm = cert.signature_hash_algorithm
    assert (algorithm.name if algorithm else None) == hash_name
    cert.verify_directly_issued_by(ca.certificate)


def test_sign_leaf_validates_before_signing(root_ca: CertificateAuthority) -> None:
    with pytest.raises(PKIError, match="is an IP address"):
        sign_leaf(
            LeafRequest(dns_names=("1.2.3.4",)), generate_private_key(KeySpec()).public_key(), root_ca, NOW
        )


def test_issue_leaf_generates_the_requested_key(root_ca: CertificateAuthority) -> None:
    key, cert = issue_leaf(LeafRequest(common_name="a"), KeySpec(KeyAlgorithm.ECDSA, 384), root_ca, NOW)
    assert summarize_certificate(cert).key_type == "ECDSA P-384"
    assert cert.public_key() == key.public_key()

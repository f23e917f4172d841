from datetime import timedelta

import pytest

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    KeySpec,
    LeafRequest,
    PKIError,
    Purpose,
    Usage,
    create_root_ca,
    issue_leaf,
    verify_certificate,
)
from tests.unit.pki.support import NOW


def test_server_and_client_verification_through_an_intermediate(
    root_ca: CertificateAuthority, intermediate_ca: CertificateAuthority
) -> None:
    _, leaf = issue_leaf(
        LeafRequest(dns_names=("api.example.com",), ip_addresses=("127.0.0.1", "::1")),
        KeySpec(),
        intermediate_ca,
        NOW,
    )
    chain, roots = [intermediate_ca.certificate], [root_ca.certificate]
    for server_name in ("api.example.com", "API.example.com", "127.0.0.1", "::1"):
        verify_certificate(leaf, chain, roots, NOW, Purpose.SERVER, server_name)
    verify_certificate(leaf, chain, roots, NOW, Purpose.CLIENT)
    with pytest.raises(PKIError, match="all candidates exhausted") as missing:
        verify_certificate(leaf, [], roots, NOW, Purpose.CLIENT)
    assert missing.value.reason == "VerificationFailed"


def test_a_wildcard_covers_one_label(root_ca: CertificateAuthority) -> None:
    _, leaf = issue_leaf(LeafRequest(dns_names=("*.example.com",)), KeySpec(), root_ca, NOW)
    roots = [root_ca.certificate]
    verify_certificate(leaf, [], roots, NOW, Purpose.SERVER, "web.example.com")
    with pytest.raises(PKIError, match="no matching subjectAltName"):
        verify_certificate(leaf, [], roots, NOW, Purpose.SERVER, "a.web.example.com")


def test_a_common_name_alone_does_not_satisfy_the_verifier(root_ca: CertificateAuthority) -> None:
    """cryptography's verifier, like browsers, needs a SAN; openssl accepts these (see test_openssl)."""
    _, leaf = issue_leaf(LeafRequest(common_name="user"), KeySpec(), root_ca, NOW)
    with pytest.raises(PKIError, match="Certificate is missing required extension"):
        verify_certificate(leaf, [], [root_ca.certificate], NOW, Purpose.CLIENT)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong name", "no matching subjectAltName"),
        ("wrong ip", "no matching subjectAltName"),
        ("expired", "cert is not valid at validation time"),
        ("untrusted", "all candidates exhausted"),
        ("client-only usage", "required EKU not found"),
        ("no server name", "^server verification needs the server name$"),
        ("bad server name", "^server name 'not a name!' is neither a DNS name nor an IP address$"),
        ("no roots", "^no trusted root certificates$"),
    ],
)
def test_what_a_tls_peer_rejects_is_rejected(root_ca: CertificateAuthority, case: str, message: str) -> None:
    usages = (Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH) if case == "client-only usage" else ()
    request = LeafRequest(dns_names=("api.example.com",), ip_addresses=("10.0.0.1",), usages=usages)
    _, leaf = issue_leaf(request, KeySpec(), root_ca, NOW)
    roots = [root_ca.certificate]
    when = NOW
    name: str | None = {
        "wrong name": "other.example.com",
        "wrong ip": "10.0.0.2",
        "no server name": None,
        "bad server name": "not a name!",
    }.get(case, "api.example.com")
    if case == "expired":
        when = NOW + timedelta(days=200)
    elif case == "untrusted":
        roots = [create_root_ca(CARequest("Stranger", timedelta(days=30)), NOW).certificate]
    elif case == "no roots":
        roots = []
    with pytest.raises(PKIError, match=message) as caught:
        verify_certificate(leaf, [], roots, when, Purpose.SERVER, name)
    assert caught.value.reason == "VerificationFailed"

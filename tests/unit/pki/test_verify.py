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
    create_intermediate_ca,
    create_root_ca,
    issue_leaf,
    verify_certificate,
)
from tests.unit.pki.conftest import NOW


def test_server_and_client_verification_through_an_intermediate(root_ca: CertificateAuthority) -> None:
    intermediate = create_intermediate_ca(
        CARequest("Issuing", timedelta(days=30), path_length=0), root_ca, NOW
    )
    _, leaf = issue_leaf(
        LeafRequest(dns_names=("api.example.com",), ip_addresses=("127.0.0.1",)), KeySpec(), intermediate, NOW
    )
    verify_certificate(
        leaf, [intermediate.certificate], [root_ca.certificate], NOW, Purpose.SERVER, "api.example.com"
    )
    verify_certificate(
        leaf, [intermediate.certificate], [root_ca.certificate], NOW, Purpose.SERVER, "127.0.0.1"
    )
    verify_certificate(leaf, [intermediate.certificate], [root_ca.certificate], NOW, Purpose.CLIENT)
    with pytest.raises(PKIError) as missing:
        verify_certificate(leaf, [], [root_ca.certificate], NOW, Purpose.CLIENT)
    assert missing.value.reason == "VerificationFailed"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong name", "no matching subjectAltName"),
        ("expired", "cert is not valid at validation time"),
        ("untrusted", "all candidates exhausted"),
        ("client-only usage", "required EKU not found"),
        ("no server name", "needs the server name"),
        ("no roots", "no trusted root"),
    ],
)
def test_what_a_tls_peer_rejects_is_rejected(root_ca: CertificateAuthority, case: str, message: str) -> None:
    usages = (Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH) if case == "client-only usage" else ()
    _, leaf = issue_leaf(LeafRequest(dns_names=("api.example.com",), usages=usages), KeySpec(), root_ca, NOW)
    roots = [root_ca.certificate]
    when, name = NOW, "api.example.com"
    if case == "wrong name":
        name = "other.example.com"
    elif case == "expired":
        when = NOW + timedelta(days=200)
    elif case == "untrusted":
        roots = [create_root_ca(CARequest("Stranger", timedelta(days=30)), NOW).certificate]
    elif case == "no roots":
        roots = []
    with pytest.raises(PKIError, match=message):
        verify_certificate(leaf, [], roots, when, Purpose.SERVER, None if case == "no server name" else name)

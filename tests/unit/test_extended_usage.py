"""Every certificate certmint signs carries extendedKeyUsage: without one, OpenSSL and Go accept it
for any purpose. Policy and CSR auto-approval judge the usages really signed."""

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certmint.api.issuer import AutoApproval, IssuancePolicy
from certmint.pki import (
    DEFAULT_EXTENDED_USAGES,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    Usage,
    effective_usages,
    issue_leaf,
)
from certmint.planning.csrs.plan import Approve, Sign
from certmint.planning.policy import policy_denial
from certmint.planning.request import issuance_spec
from tests.csr_material import spiffe_csr
from tests.unit.planning_fixtures import NOW, make_ca, make_certificate, ready_issuer, with_signing
from tests.unit.test_csr_planning import TD, csr_body, plan

CA = make_ca()
EXTENDED_OIDS = {
    Usage.SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH,
    Usage.CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH,
    Usage.CODE_SIGNING: ExtendedKeyUsageOID.CODE_SIGNING,
    Usage.EMAIL_PROTECTION: ExtendedKeyUsageOID.EMAIL_PROTECTION,
}
TLS_ONLY = ["digital signature", "key encipherment", "server auth", "client auth"]


def _extended_key_usage(certificate: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


@settings(max_examples=60, deadline=None)
@given(usages=st.lists(st.sampled_from(list(Usage)), max_size=8), is_ca=st.booleans())
def test_every_signed_certificate_carries_exactly_its_effective_extended_usages(
    usages: list[Usage], is_ca: bool
) -> None:
    request = LeafRequest(common_name="property", usages=tuple(usages), is_ca=is_ca)
    _, certificate = issue_leaf(request, KeySpec(), CA, NOW)
    effective = effective_usages(request, rsa_key=False)
    signed = _extended_key_usage(certificate)
    assert signed, "no extendedKeyUsage: valid for any purpose"
    assert signed == [EXTENDED_OIDS[usage] for usage in effective if usage in EXTENDED_OIDS]
    if not set(usages) & set(EXTENDED_OIDS):
        assert set(DEFAULT_EXTENDED_USAGES) <= set(effective)


@pytest.mark.parametrize("rsa_key", [False, True])
def test_digital_signature_alone_means_tls(rsa_key: bool) -> None:
    request = LeafRequest(common_name="a", usages=(Usage.DIGITAL_SIGNATURE,))
    assert effective_usages(request, rsa_key=rsa_key) == (
        Usage.DIGITAL_SIGNATURE,
        Usage.SERVER_AUTH,
        Usage.CLIENT_AUTH,
    )


def test_a_named_extended_usage_is_kept_alone() -> None:
    request = LeafRequest(common_name="a", usages=(Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH))
    assert effective_usages(request, rsa_key=False) == (Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH)


def test_a_sub_ca_naming_no_extended_usage_is_a_tls_sub_ca() -> None:
    request = LeafRequest(common_name="sub", usages=(Usage.CERT_SIGN,), is_ca=True)
    _, certificate = issue_leaf(request, KeySpec(), CA, NOW)
    assert _extended_key_usage(certificate) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]


def _denial(policy: IssuancePolicy, usages: list[str]) -> str | None:
    certificate = make_certificate(namespace="a", dnsNames=["web.a.svc"], usages=usages)
    return policy_denial(policy, issuance_spec(certificate, TD), {}, False)


def test_a_policy_without_server_auth_sees_the_default_it_would_sign() -> None:
    client_only = IssuancePolicy.model_validate(
        {"allowedDNSNames": ["*.*.svc"], "allowedUsages": ["digital signature", "client auth"]}
    )
    message = _denial(client_only, ["digital signature"])
    assert message is not None
    assert message.startswith("policy.allowedUsages: server auth not allowed"), message
    assert "extended usage" in message
    assert _denial(client_only, ["digital signature", "client auth"]) is None


def test_a_tls_policy_allows_digital_signature_alone() -> None:
    tls = IssuancePolicy.model_validate({"allowedDNSNames": ["*.*.svc"], "allowedUsages": TLS_ONLY})
    assert _denial(tls, ["digital signature"]) is None


def test_auto_approval_judges_the_tls_default_and_signs_it() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    issuer = ready_issuer(CA)
    auto = with_signing(issuer, auto_approval=AutoApproval(workload_identity=True))
    pending = plan(csr_body(request, conditions=(), usages=("digital signature",)), issuer=auto)
    assert isinstance(pending, Approve)
    approved = plan(csr_body(request, usages=("digital signature",)))
    assert isinstance(approved, Sign)
    effective = effective_usages(approved.spec.leaf, rsa_key=approved.spec.key.algorithm == KeyAlgorithm.RSA)
    assert set(DEFAULT_EXTENDED_USAGES) <= set(effective)

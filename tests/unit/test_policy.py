"""Identity policy: each rule denies with its name, and what a policy allows goes through."""

from typing import Any

import pytest

from certmint.api.issuer import IssuancePolicy
from certmint.planning.certificates.plan import plan_certificate
from certmint.planning.certificates.results import Issue
from certmint.planning.gates import Fail
from certmint.planning.policy import policy_denial
from certmint.planning.request import issuance_spec
from tests.unit.planning_fixtures import NOW, make_ca, make_certificate, ready_issuer, with_signing

CA = make_ca()
TD = "cluster.local"


def policy(**fields: object) -> IssuancePolicy:
    return IssuancePolicy.model_validate(fields)


def denial(
    policy_: IssuancePolicy | None,
    labels: dict[str, str] | None = None,
    allow_ca: bool = False,
    **spec: Any,
) -> str | None:
    namespace = str(spec.pop("namespace", "a"))
    spec.setdefault("dnsNames", [f"web.{namespace}.svc"])
    certificate = make_certificate(namespace=namespace, **spec)
    return policy_denial(policy_, issuance_spec(certificate, TD), labels or {}, allow_ca)


def test_without_a_policy_everything_of_the_own_namespace_but_a_ca_is_allowed() -> None:
    assert (
        denial(None, duration="8760h", identity={"serviceAccount": "web"}, ipAddresses=["10.0.0.1"]) is None
    )
    assert denial(None, allow_ca=True, isCA=True) is None


@pytest.mark.parametrize(
    "spec",
    [{"isCA": True}, {"usages": ["cert sign"]}, {"usages": ["digital signature", "crl sign"]}],
    ids=["is-ca", "cert-sign", "crl-sign"],
)
@pytest.mark.parametrize("policy_", [None, policy(allowCA=True, allowedDNSNames=["*.*.svc"])])
def test_ca_certificates_need_the_issuers_allow_ca_with_or_without_a_policy(
    spec: dict[str, Any], policy_: IssuancePolicy | None
) -> None:
    message = denial(policy_, **spec)
    assert message is not None
    assert message.startswith("allowCA: this issuer does not sign CA certificates"), message
    assert denial(policy_, allow_ca=True, **spec) is None


@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        (
            "spiffe://evil.example/ns/a/sa/web",
            "identity: spiffe://evil.example/ns/a/sa/web is in trust domain",
        ),
        (
            "spiffe://cluster.local/NS/b/sa/web",
            "identity: spiffe://cluster.local/NS/b/sa/web must have the form",
        ),
        (
            "spiffe://cluster.local/ns/A/sa/web",
            "identity: spiffe://cluster.local/ns/A/sa/web names namespace A",
        ),
        ("spiffe://cluster.local/sa/web", "identity: spiffe://cluster.local/sa/web must have the form"),
        ("spiffe://cluster.local/ns/b", "identity: spiffe://cluster.local/ns/b names namespace b"),
        ("spiffe://Cluster.local/ns/a/sa/web", "identity: SPIFFE ID"),
        ("spiffe://cluster.local/ns/a/../b/sa/x", "identity: SPIFFE ID"),
    ],
)
def test_spiffe_ids_only_in_the_trust_domain_and_the_own_namespace_with_or_without_a_policy(
    uri: str, rule: str
) -> None:
    for rules in (None, policy(allowedURIs=["spiffe://*/*/*/*/*", "spiffe://*/*", "spiffe://*/*/*"])):
        message = denial(rules, dnsNames=[], uris=[uri])
        assert message is not None
        assert message.startswith(rule), message
    assert denial(None, uris=["spiffe://cluster.local/ns/a/sa/web"]) is None


@pytest.mark.parametrize("uri", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "web"])
def test_uri_sans_of_other_schemes_are_denied_with_or_without_a_policy(uri: str) -> None:
    for rules in (None, policy(allowedURIs=["*"])):
        message = denial(rules, uris=[uri])
        assert message is not None
        assert message.startswith(f"uris: {uri!r} has scheme"), message
    assert denial(None, uris=["https://web.a.svc/path", "urn:example:a"]) is None


@pytest.mark.parametrize("policy_", [None, policy(allowedURIs=["spiffe://*/ns/*/sa/*"])])
def test_a_namespace_never_receives_an_identity_naming_another(policy_: IssuancePolicy | None) -> None:
    message = denial(policy_, uris=["spiffe://cluster.local/ns/b/sa/admin"])
    assert message is not None
    assert message.startswith("identity: spiffe://cluster.local/ns/b/sa/admin names namespace b")


def test_the_identity_field_becomes_the_own_namespace_spiffe_id() -> None:
    spec = issuance_spec(make_certificate(namespace="a", identity={"serviceAccount": "web"}), TD)
    assert spec.leaf.uris == ("spiffe://cluster.local/ns/a/sa/web",)
    rules = policy(
        allowedURIs=["spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}"],
        allowedDNSNames=["web.apps.svc"],
    )
    assert policy_denial(rules, spec, {}) is None


@pytest.mark.parametrize(
    ("rules", "spec", "rule"),
    [
        (policy(namespaceSelector={"matchLabels": {"tier": "prod"}}), {}, "policy.namespaceSelector"),
        (policy(), {"isCA": True}, "policy.allowCA"),
        (
            policy(allowedDNSNames=["*.${namespace}.svc"]),
            {"commonName": "api.b.svc"},
            "policy.allowedCommonNames",
        ),
        (
            policy(allowedDNSNames=["*.${namespace}.svc.cluster.local"]),
            {"dnsNames": [], "commonName": "api.b.svc.cluster.local"},
            "policy.allowedCommonNames: api.b.svc.cluster.local",
        ),
        (
            policy(allowedDNSNames=["*.${namespace}.svc"]),
            {"ipAddresses": ["10.0.0.1"]},
            "policy.allowedIPAddr",
        ),
        (
            policy(allowedDNSNames=["*.a.svc"], allowedIPAddresses=["10.1.0.0/16"]),
            {"ipAddresses": ["10.2.0.1"]},
            "policy.allowedIPAddresses: 10.2.0.1 is in none of ['10.1.0.0/16']",
        ),
        (policy(allowedDNSNames=["*.a.svc"]), {"emailAddresses": ["x@b.example"]}, "policy.allowedEmail"),
        (
            policy(allowedDNSNames=["*.a.svc"], allowedEmailAddresses=["*@${namespace}.example"]),
            {"emailAddresses": ["x@b.example"]},
            "policy.allowedEmailAddresses: x@b.example",
        ),
        (policy(allowedDNSNames=["*.a.svc"]), {"organizations": ["system:masters"]}, "policy.allowedOrgan"),
        (policy(), {}, "policy.allowedDNSNames: web.a.svc matches none of []"),
        (policy(allowedDNSNames=["*.a.svc"]), {"uris": ["https://a.example"]}, "policy.allowedURIs"),
        (policy(maxDuration="48h"), {"duration": "72h"}, "policy.maxDuration: duration 72h exceeds"),
        (policy(allowedKeyAlgorithms=["ECDSA"]), {"privateKey": {"algorithm": "RSA"}}, "policy.allowedKey"),
        (policy(allowedUsages=["client auth", "digital signature"]), {}, "policy.allowedUsages: server auth"),
        (policy(), {"usages": ["cert sign"]}, "policy.allowedUsages: cert sign"),
        (
            policy(allowedDNSNames=["*.${namespace}.svc"]),
            {"dnsNames": ["web.b.svc"]},
            "policy.allowedDNSNames",
        ),
        (
            policy(allowedDNSNames=["*.${namespace}.svc"]),
            {"dnsNames": ["x.y.a.svc"]},
            "policy.allowedDNSNames",
        ),
        (
            policy(
                allowedURIs=["spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}"],
                allowedDNSNames=["*.a.svc"],
            ),
            {"uris": ["spiffe://cluster.local/ns/a/sa/web"]},
            "policy.allowedURIs",
        ),
    ],
)
def test_each_rule_denies_naming_itself(rules: IssuancePolicy, spec: dict[str, Any], rule: str) -> None:
    message = denial(rules, **spec)
    assert message is not None
    assert message.startswith(rule), message


def test_what_the_policy_allows_goes_through() -> None:
    rules = policy(
        namespaceSelector={"matchLabels": {"tier": "prod"}},
        allowedDNSNames=["*.${namespace}.svc", "${namespace}.example.com"],
        maxDuration="48h",
        allowedKeyAlgorithms=["ECDSA", "Ed25519"],
        allowedUsages=["digital signature", "server auth", "client auth"],
    )
    assert denial(rules, {"tier": "prod"}, dnsNames=["Web.A.svc", "a.example.com"], duration="48h") is None
    assert denial(policy(allowCA=True, allowedDNSNames=["*.a.svc"]), allow_ca=True, isCA=True) is None
    every_field = policy(
        allowedDNSNames=["*.${namespace}.svc"],
        allowedCommonNames=["${namespace} service"],
        allowedIPAddresses=["10.0.0.0/8", "fd00::/8"],
        allowedEmailAddresses=["*@${namespace}.example"],
        allowedOrganizations=["team-${namespace}"],
        allowedURIs=["spiffe://cluster.local/ns/${namespace}/sa/*"],
    )
    assert (
        denial(
            every_field,
            dnsNames=["web.a.svc"],
            commonName="a service",
            ipAddresses=["10.9.8.7", "fd00::1"],
            emailAddresses=["ops@a.example"],
            organizations=["team-a"],
            identity={"serviceAccount": "web"},
        )
        is None
    )
    # A host-name commonName passes as one of the DNS names.
    assert denial(every_field, dnsNames=["web.a.svc"], commonName="api.a.svc") is None


def test_a_denial_is_a_policy_denied_failure_and_nothing_is_issued() -> None:
    spec = issuance_spec(make_certificate(namespace="a", uris=["spiffe://cluster.local/ns/b/sa/x"]), TD)
    plan = plan_certificate(spec, ready_issuer(CA), None, None, NOW, "s")
    assert isinstance(plan, Fail)
    assert (plan.reason, plan.retryable) == ("PolicyDenied", False)
    selector = {"matchLabels": {"tier": "prod"}}
    issuer = with_signing(
        ready_issuer(CA), policy=policy(namespaceSelector=selector, allowedDNSNames=["*.*.svc"])
    )
    allowed = issuance_spec(make_certificate(namespace="a"), TD)
    assert isinstance(plan_certificate(allowed, issuer, None, None, NOW, "s", {"tier": "prod"}), Issue)
    denied = plan_certificate(allowed, issuer, None, None, NOW, "s", {"tier": "dev"})
    assert isinstance(denied, Fail)
    assert denied.reason == "PolicyDenied"

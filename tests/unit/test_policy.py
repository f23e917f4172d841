"""Identity policy: each rule denies with its name, and what a policy allows goes through."""

from dataclasses import replace

import pytest

from certmint.api.issuer import IssuancePolicy
from certmint.planning.plan import Fail, Issue, plan_certificate
from certmint.planning.policy import policy_denial
from certmint.planning.request import issuance_spec
from tests.unit.planning_fixtures import NOW, make_ca, make_certificate, ready_issuer

CA = make_ca()
TD = "cluster.local"


def policy(**fields: object) -> IssuancePolicy:
    return IssuancePolicy.model_validate(fields)


def denial(
    policy_: IssuancePolicy | None, labels: dict[str, str] | None = None, **spec: object
) -> str | None:
    certificate = make_certificate(namespace=str(spec.pop("namespace", "a")), **spec)
    return policy_denial(policy_, issuance_spec(certificate, TD), labels or {})


def test_without_a_policy_everything_of_the_own_namespace_is_allowed() -> None:
    assert denial(None, isCA=True, duration="8760h", identity={"serviceAccount": "web"}) is None


@pytest.mark.parametrize("policy_", [None, policy(allowedURIs=["spiffe://*/ns/*/sa/*"])])
def test_a_namespace_never_receives_an_identity_naming_another(policy_: IssuancePolicy | None) -> None:
    message = denial(policy_, uris=["spiffe://cluster.local/ns/b/sa/admin"])
    assert message is not None
    assert message.startswith("identity: spiffe://cluster.local/ns/b/sa/admin names namespace b")


def test_the_identity_field_becomes_the_own_namespace_spiffe_id() -> None:
    spec = issuance_spec(make_certificate(namespace="a", identity={"serviceAccount": "web"}), TD)
    assert spec.leaf.uris == ("spiffe://cluster.local/ns/a/sa/web",)
    rules = policy(allowedURIs=["spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}"])
    assert policy_denial(rules, spec, {}) is None


@pytest.mark.parametrize(
    ("rules", "spec", "rule"),
    [
        (policy(namespaceSelector={"matchLabels": {"tier": "prod"}}), {}, "policy.namespaceSelector"),
        (policy(), {"isCA": True}, "policy.allowCA"),
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
            policy(allowedURIs=["spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}"]),
            {"uris": ["spiffe://cluster.local/ns/a/sa/web"]},
            "policy.allowedURIs",
        ),
    ],
)
def test_each_rule_denies_naming_itself(rules: IssuancePolicy, spec: dict[str, object], rule: str) -> None:
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
    assert denial(policy(allowCA=True), isCA=True) is None


def test_a_denial_is_a_policy_denied_failure_and_nothing_is_issued() -> None:
    spec = issuance_spec(make_certificate(namespace="a", uris=["spiffe://cluster.local/ns/b/sa/x"]), TD)
    plan = plan_certificate(spec, ready_issuer(CA), None, None, NOW, "s")
    assert isinstance(plan, Fail)
    assert (plan.reason, plan.retryable) == ("PolicyDenied", False)
    issuer = replace(ready_issuer(CA), policy=policy(namespaceSelector={"matchLabels": {"tier": "prod"}}))
    allowed = issuance_spec(make_certificate(namespace="a"), TD)
    assert isinstance(plan_certificate(allowed, issuer, None, None, NOW, "s", {"tier": "prod"}), Issue)
    denied = plan_certificate(allowed, issuer, None, None, NOW, "s", {"tier": "dev"})
    assert isinstance(denied, Fail)
    assert denied.reason == "PolicyDenied"

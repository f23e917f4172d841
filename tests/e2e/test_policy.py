"""Issue 6 end to end: identity policy on Issuers and ClusterIssuers; every denial is PolicyDenied,
names its rule, and leaves no Secret behind."""

import uuid
from typing import Any

import pytest

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, GROUP, ISSUERS, VERSION
from tests.e2e.manifests import certificate, cluster_issuer, issuer
from tests.e2e.support import Cluster, OperatorProcess

POLICY = {
    "allowedDNSNames": ["*.${namespace}.svc"],
    "allowedURIs": ["spiffe://cluster.local/ns/${namespace}/sa/*"],
    "maxDuration": "48h",
}


def issuer_with_policy(namespace: str, policy: dict[str, Any]) -> dict[str, Any]:
    return issuer(namespace, selfSigned={}, policy=policy)


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ({"uris": ["spiffe://cluster.local/ns/other/sa/admin"]}, "identity: spiffe://cluster.local/ns/other"),
        ({"dnsNames": ["evil.example.com"]}, "policy.allowedDNSNames: evil.example.com"),
        ({"duration": "72h"}, "policy.maxDuration: duration 72h"),
        ({"isCA": True}, "policy.allowCA"),
    ],
    ids=["other-namespace-identity", "dns-outside-pattern", "duration-above-max", "is-ca"],
)
def test_each_policy_violation_is_denied_with_its_rule_and_nothing_is_issued(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, spec: dict[str, Any], rule: str
) -> None:
    cluster.apply(issuer_with_policy(namespace, POLICY))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    cluster.apply(certificate(namespace, "allowed", identity={"serviceAccount": "web"}))
    cluster.apply(certificate(namespace, "denied", **spec))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "allowed", "True")
    condition = cluster.wait_condition(CERTIFICATES.plural, namespace, "denied", "False", "PolicyDenied")
    assert condition["message"].startswith(rule), condition["message"]
    assert cluster.secret_data(namespace, "denied-tls") is None
    warnings = [(e.type, e.reason) for e in cluster.events(namespace, "denied")]
    assert ("Warning", "PolicyDenied") in warnings
    assert not any(reason == "Issued" for _, reason in warnings)


def test_a_cluster_issuer_serves_only_the_namespaces_its_selector_admits(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    name = f"policy-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        cluster_issuer(
            name,
            selfSigned={},
            policy={
                "namespaceSelector": {"matchLabels": {"certmint-test": name}},
                "allowedDNSNames": ["*.${namespace}.svc"],
            },
        )
    )
    cluster.wait_condition(CLUSTER_ISSUERS.plural, None, name, "True")
    manifest = certificate(namespace, "web", issuer=name)
    manifest["spec"]["issuerRef"]["kind"] = "ClusterIssuer"
    cluster.apply(manifest)
    condition = cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "False", "PolicyDenied")
    assert condition["message"].startswith("policy.namespaceSelector")
    assert cluster.secret_data(namespace, "web-tls") is None

    cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"certmint-test": name}}})
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    assert cluster.secret_data(namespace, "web-tls") is not None
    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, name)

"""The canary of the hostile-load suite (issue 27): while an attack is under way, an ordinary
Certificate in another namespace must still become Ready, the operator must not restart and its
memory must stay within the chart's limit. Readiness is asserted, never a timing: how long the
canary took goes to bench/."""

import uuid
from typing import Any

from kubernetes import client

from certmint.api.kinds import CERTIFICATES, GROUP
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, token_client, wait_for

CHART_MEMORY_LIMIT_MIB = 512
"""charts/certmint/values.yaml: resources.limits.memory (512Mi)."""

RBAC_API = "rbac.authorization.k8s.io"


def assert_canary_ready(cluster: Cluster, operator: OperatorProcess, timeout: float = 60) -> str:
    """A fresh namespace with its own self-signed Issuer and one Certificate: Ready=True within
    `timeout` (generous: a loaded 2-core machine), the operator still the same process, and its
    memory under the chart's limit. Returns the canary's namespace."""
    assert operator.process is not None
    pid = operator.process.pid
    namespace = f"canary-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": namespace}}))
    try:
        cluster.apply(self_signed_issuer(namespace, "canary-ca"))
        cluster.apply(certificate(namespace, "canary", issuer="canary-ca"))
        cluster.wait_condition(CERTIFICATES.plural, namespace, "canary", "True", timeout=timeout)
    finally:
        cluster.core.delete_namespace(namespace)
    assert operator.alive(), f"the operator exited during the attack:\n{operator.log()[-3000:]}"
    assert operator.process.pid == pid, "the operator restarted during the attack"
    rss = operator.rss_now()
    assert rss < CHART_MEMORY_LIMIT_MIB, f"operator RSS {rss:.0f} MiB exceeds the chart's limit"
    return namespace


def tenant_client(cluster: Cluster, namespace: str, rules: list[dict[str, Any]]) -> client.ApiClient:
    """A real non-admin user: a ServiceAccount of `namespace` bound to a Role with exactly `rules`,
    authenticating with a TokenRequest token only. Waits until RBAC is in effect for the first rule."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    account = "tenant"
    cluster.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount.model_validate({"metadata": {"name": account}})
    )
    rbac.create_namespaced_role(
        namespace, client.V1Role.model_validate({"metadata": {"name": account}, "rules": rules})
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding.model_validate(
            {
                "metadata": {"name": account},
                "roleRef": {"apiGroup": RBAC_API, "kind": "Role", "name": account},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
            }
        ),
    )
    api = token_client(cluster, namespace, account)
    first = rules[0]
    review = {
        "spec": {
            "resourceAttributes": {
                "namespace": namespace,
                "group": first["apiGroups"][0],
                "resource": first["resources"][0],
                "verb": first["verbs"][0],
            }
        }
    }

    def allowed() -> bool:
        answer = client.AuthorizationV1Api(api).create_self_subject_access_review(
            client.V1SelfSubjectAccessReview.model_validate(review)
        )
        assert answer.status is not None, "the API server always answers a review with its status"
        return bool(answer.status.allowed)

    wait_for(allowed, 20, what="tenant RBAC in effect")
    return api


def certmint_rules(*resources: str) -> list[dict[str, Any]]:
    """A Role rule: everything on these certmint resources, nothing else."""
    return [{"apiGroups": [GROUP], "resources": list(resources), "verbs": ["*"]}]

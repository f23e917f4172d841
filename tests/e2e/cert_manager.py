"""cert-manager's and trust-manager's kinds, served by the test API server so that migration is
tried against the real thing: CRDs of our own making (cert-manager itself is not installed), as
permissive as the tests need: every field is kept as written, nothing is validated."""

from typing import Any

from tests.e2e.support import Cluster, wait_for

CERT_MANAGER_GROUP = "cert-manager.io"
TRUST_MANAGER_GROUP = "trust.cert-manager.io"

KINDS = (
    # (group, version, kind, plural, namespaced)
    (CERT_MANAGER_GROUP, "v1", "Certificate", "certificates", True),
    (CERT_MANAGER_GROUP, "v1", "Issuer", "issuers", True),
    (CERT_MANAGER_GROUP, "v1", "ClusterIssuer", "clusterissuers", False),
    (TRUST_MANAGER_GROUP, "v1alpha1", "Bundle", "bundles", False),
)


def crd(group: str, version: str, kind: str, plural: str, namespaced: bool) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def install_cert_manager_kinds(cluster: Cluster) -> None:
    """Serves cert-manager.io/v1 Certificate, Issuer, ClusterIssuer and trust.cert-manager.io/v1alpha1
    Bundle; returns once every one of them can be listed."""
    for kind in KINDS:
        cluster.apply(crd(*kind))
    for group, version, _, plural, _ in KINDS:
        resource = f"{plural}.{group}"

        def served(resource: str = resource) -> bool:
            return "error" not in cluster.plane.kubectl("get", resource, "-A", check=False).lower()

        wait_for(served, 60, what=f"{resource}/{version} served")

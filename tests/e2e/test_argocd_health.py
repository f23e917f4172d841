"""The Argo CD health scripts (contrib/argocd) run by Debian's Lua on certmint objects as the real
API server returns them, in the states the session's operator put them in."""

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from certmint.api.kinds import CERTIFICATES, GROUP, ISSUERS, NAMESPACED_TRUST_BUNDLES, TRUST_BUNDLES, VERSION
from certmint.planning import reasons
from tests.argocd_health import health
from tests.e2e.manifests import (
    ca_issuer,
    certificate,
    issuer_bundle,
    namespaced_trust_bundle,
    self_signed_issuer,
)
from tests.e2e.support import Cluster, OperatorProcess


@pytest.fixture
def bundle_name(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A TrustBundle's name (cluster-scoped: deleted after the test)."""
    name = f"argocd-{namespace}"
    yield name
    try:
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, name)
    except client.ApiException as error:
        if error.status != 404:
            raise


def test_health_of_real_objects_in_each_state(
    cluster: Cluster, namespace: str, bundle_name: str, operator_process: OperatorProcess
) -> None:
    cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"argocd-test": namespace}}})
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace, "web"))
    # A CA issuer whose CA Secret does not exist: it fails, and its Certificate waits for it.
    cluster.apply(ca_issuer(namespace, "absent-ca", name="pending"))
    cluster.apply(certificate(namespace, "late", issuer="pending"))
    # A Certificate aimed at a Secret it does not own: it fails with that reason.
    cluster.core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="taken"), string_data={"note": "mine"})
    )
    cluster.apply(certificate(namespace, "grab", secretName="taken"))
    cluster.apply(issuer_bundle(bundle_name, namespace, {"argocd-test": namespace}))
    cluster.apply(namespaced_trust_bundle(namespace, "own", [{"issuer": {"name": "ca"}}]))
    elsewhere = [{"configMap": {"name": "ca", "namespace": "kube-system"}}]
    cluster.apply(namespaced_trust_bundle(namespace, "elsewhere", elsewhere))

    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    cluster.wait_condition(ISSUERS.plural, namespace, "pending", "False", reasons.CA_SECRET_NOT_FOUND)
    cluster.wait_condition(CERTIFICATES.plural, namespace, "late", "False", reasons.ISSUER_NOT_READY)
    cluster.wait_condition(CERTIFICATES.plural, namespace, "grab", "False", reasons.SECRET_NOT_OWNED)
    cluster.wait_condition(TRUST_BUNDLES.plural, None, bundle_name, "True")
    cluster.wait_condition(NAMESPACED_TRUST_BUNDLES.plural, namespace, "own", "True")
    cluster.wait_condition(
        NAMESPACED_TRUST_BUNDLES.plural, namespace, "elsewhere", "False", reasons.SOURCE_OUTSIDE_NAMESPACE
    )

    def read(plural: str, scope: str | None, name: str) -> dict[str, Any]:
        found = cluster.get(plural, scope, name)
        assert found is not None, f"{plural} {name} is gone"
        return found

    ready_issuer = health("Issuer", read(ISSUERS.plural, namespace, "ca"))
    assert ready_issuer.status == "Healthy"
    assert ready_issuer.message.endswith("; CA rotation Stable")

    ready = health("Certificate", read(CERTIFICATES.plural, namespace, "web"))
    assert ready.status == "Healthy"
    assert ready.message.startswith("certificate is up to date and valid until ")

    failing_issuer = health("Issuer", read(ISSUERS.plural, namespace, "pending"))
    assert failing_issuer.status == "Degraded"
    assert failing_issuer.message.startswith(f"{reasons.CA_SECRET_NOT_FOUND}: ")
    assert "absent-ca" in failing_issuer.message

    issuing = health("Certificate", read(CERTIFICATES.plural, namespace, "late"))
    assert issuing.status == "Progressing"
    assert issuing.message.startswith(f"{reasons.ISSUER_NOT_READY}: issuer is not ready: ")

    failing = health("Certificate", read(CERTIFICATES.plural, namespace, "grab"))
    assert failing.status == "Degraded"
    assert failing.message.startswith(f"{reasons.SECRET_NOT_OWNED}: ")

    synced = health("TrustBundle", read(TRUST_BUNDLES.plural, None, bundle_name))
    assert synced.status == "Healthy"
    assert synced.message.endswith("certificates published to 1 namespaces")

    own = health("NamespacedTrustBundle", read(NAMESPACED_TRUST_BUNDLES.plural, namespace, "own"))
    assert own.status == "Healthy"
    assert own.message.endswith("certificates published to 1 namespaces")

    refused = health("NamespacedTrustBundle", read(NAMESPACED_TRUST_BUNDLES.plural, namespace, "elsewhere"))
    assert refused.status == "Degraded"
    assert refused.message.startswith(
        f"{reasons.SOURCE_OUTSIDE_NAMESPACE}: sources[0] ConfigMap kube-system/ca"
    )

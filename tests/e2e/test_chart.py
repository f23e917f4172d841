"""The Helm chart on the real API server: installs, and its RBAC is exactly enough for the operator."""

import base64
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.manifests import certificate, self_signed_issuer, trust_bundle
from tests.e2e.support import Cluster, OperatorProcess

REPO = Path(__file__).resolve().parents[2]
RELEASE_NAMESPACE = "certmint-chart"
SERVICE_ACCOUNT = f"system:serviceaccount:{RELEASE_NAMESPACE}:certmint"

NEEDED = [
    ("get", "certificates.certmint.dev"),
    ("list", "certificates.certmint.dev"),
    ("watch", "certificates.certmint.dev"),
    ("patch", "certificates.certmint.dev/status"),
    ("watch", "issuers.certmint.dev"),
    ("patch", "issuers.certmint.dev/status"),
    ("watch", "clusterissuers.certmint.dev"),
    ("patch", "trustbundles.certmint.dev/status"),
    ("get", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("patch", "secrets"),
    ("create", "configmaps"),
    ("delete", "configmaps"),
    ("watch", "namespaces"),
    ("create", "events"),
]
FORBIDDEN = [
    ("delete", "secrets"),
    ("update", "secrets"),
    ("delete", "certificates.certmint.dev"),
    ("patch", "certificates.certmint.dev"),
    ("create", "pods"),
    ("create", "clusterrolebindings"),
    ("patch", "namespaces"),
]


@pytest.fixture(scope="module")
def release(cluster: Cluster) -> str:
    helm = cluster.plane.binaries.helm
    assert helm.exists(), "helm is built by tools/controlplane/build.sh"
    cluster.plane.kubectl("create", "namespace", RELEASE_NAMESPACE)
    result = subprocess.run(
        [
            str(helm),
            "install",
            "certmint",
            str(REPO / "charts" / "certmint"),
            "--namespace",
            RELEASE_NAMESPACE,
            "--kubeconfig",
            str(cluster.plane.kubeconfig),
            "--wait=false",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_helm_install_is_accepted_by_the_api_server(cluster: Cluster, release: str) -> None:
    assert "STATUS: deployed" in release
    assert "kubectl get mcert" in release, "NOTES.txt is shown"
    deployment = yaml.safe_load(
        cluster.plane.kubectl("get", "deployment", "certmint", "-n", RELEASE_NAMESPACE, "-o", "yaml")
    )
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == "certmint"


def can_i(cluster: Cluster, verb: str, resource: str) -> str:
    """`resource/status` means the status subresource, which kubectl takes as a flag."""
    name, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    return cluster.plane.kubectl(
        "auth", "can-i", verb, name, *extra, "-A", f"--as={SERVICE_ACCOUNT}", check=False
    ).strip()


@pytest.mark.parametrize(("verb", "resource"), NEEDED)
def test_the_service_account_can_do_what_the_operator_needs(
    cluster: Cluster, release: str, verb: str, resource: str
) -> None:
    assert can_i(cluster, verb, resource) == "yes"


@pytest.mark.parametrize(("verb", "resource"), FORBIDDEN)
def test_the_service_account_cannot_do_more(cluster: Cluster, release: str, verb: str, resource: str) -> None:
    assert can_i(cluster, verb, resource).startswith("no")


def test_the_operator_works_with_only_the_charts_permissions(
    cluster: Cluster, release: str, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    """The operator runs with a token of the chart's ServiceAccount: every request it makes is
    authorized by the chart's RBAC alone."""
    token = cluster.plane.kubectl(
        "create", "token", "certmint", "-n", RELEASE_NAMESPACE, "--duration=1h"
    ).strip()
    kubeconfig = tmp_path / "service-account.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": cluster.plane.server,
                            "certificate-authority-data": base64.b64encode(
                                cluster.plane.credentials.ca_cert.read_bytes()
                            ).decode(),
                        },
                    }
                ],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "sa"}}],
                "current-context": "c",
            }
        )
    )
    operator_process.stop()  # one operator at a time, as in a cluster
    restricted = OperatorProcess(
        cluster.plane,
        tmp_path / "operator.log",
        {
            "KUBECONFIG": str(kubeconfig),
            "CERTMINT_NAMESPACE": RELEASE_NAMESPACE,
            "CERTMINT_METRICS_PORT": "0",
        },
    )
    try:
        restricted.start()
        cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"chart-test": namespace}}})
        cluster.apply(self_signed_issuer(namespace))
        cluster.apply(certificate(namespace, cleanupSecretOnDelete=True))
        cluster.apply(
            trust_bundle(
                f"chart-{namespace}",
                [{"issuer": {"name": "ca", "namespace": namespace}}],
                namespaceSelector={"matchLabels": {"chart-test": namespace}},
            )
        )
        cluster.wait_condition("certificates", namespace, "web", "True")
        cluster.wait_condition("trustbundles", None, f"chart-{namespace}", "True")
        assert "Forbidden" not in restricted.log(), restricted.log()[-2000:]
        assert "403" not in restricted.log()
    finally:
        restricted.stop()
        operator_process.start()

"""Issue 24: the node is a node as in a real cluster, and serves what pod certificates need.

The kubelet authenticates as system:node:certmint-node (group system:nodes) and is authorized by the
Node authorizer, its writes checked by NodeRestriction; the PodCertificateRequest and
ClusterTrustBundle gates are on in the API server, the controller manager and the kubelet, so a pod
with a `podCertificate` projected source makes the kubelet ask for a certificate, and a
ClusterTrustBundle is projected into a pod. These are the facts the pod-certificate signer's tests
stand on; nothing of certmint runs here.
"""

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmint.pki import load_certificates_pem
from devcluster.node import RunningNode
from devcluster.node.configs import NODE_NAME
from devcluster.node.workloads import apply, pod, wait_for, wait_pods_ready

NODE_USER = f"system:node:{NODE_NAME}"
AS_NODE = (f"--as={NODE_USER}", "--as-group=system:nodes")
SIGNER = "example.com/test"


def node_authorizer_allowed(node: RunningNode) -> int:
    """How many requests the API server's Node authorizer has allowed: only a client in group
    system:nodes ever gets a decision from it (the admin is allowed before any authorizer runs)."""
    metrics = node.kubectl("get", "--raw", "/metrics")
    counts = [
        float(value)
        for labels, value in re.findall(
            r"^apiserver_authorization_decisions_total\{([^}]*)\} (\S+)$", metrics, re.MULTILINE
        )
        if 'type="Node"' in labels and 'decision="allowed"' in labels
    ]
    return int(sum(counts))


def kubelet_command_lines() -> list[list[str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arguments and arguments[0].endswith(b"/kubelet"):
            found.append([argument.decode(errors="replace") for argument in arguments if argument])
    return found


def client_certificate(kubeconfig: Path) -> x509.Certificate:
    config = yaml.safe_load(kubeconfig.read_text())
    (user,) = config["users"]
    return x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))


def test_the_kubelet_is_authorized_as_its_node(node: RunningNode) -> None:
    kubeconfig = node.workdir / "kubelet.kubeconfig"
    (kubelet,) = [line for line in kubelet_command_lines() if f"--root-dir={node.workdir}/kubelet" in line]
    assert f"--kubeconfig={kubeconfig}" in kubelet, kubelet
    subject = client_certificate(kubeconfig).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NODE_USER
    groups = [name.value for name in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:nodes"]
    # Read before any request of this test impersonates the node: these are the kubelet's own.
    assert node_authorizer_allowed(node) > 0, "the Node authorizer has allowed the kubelet's requests"
    registered = json.loads(node.kubectl("get", "node", NODE_NAME, "-o", "json", "--show-managed-fields"))
    assert registered["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    assert "kubelet" in {entry["manager"] for entry in registered["metadata"]["managedFields"]}


def can_i_as_node(node: RunningNode, *request: str) -> str:
    return node.kubectl("auth", "can-i", *request, *AS_NODE, check=False).strip()


def test_the_node_authorizer_and_node_restriction_limit_the_node(node: RunningNode, namespace: str) -> None:
    assert can_i_as_node(node, "create", "podcertificaterequests", "-n", namespace) == "yes"
    # Nodes never write a PodCertificateRequest's status, nor list them but their own node's.
    status = ("update", "podcertificaterequests", "--subresource=status", "-n", namespace)
    assert can_i_as_node(node, *status).startswith("no")
    assert can_i_as_node(node, "list", "podcertificaterequests", "-n", namespace).startswith("no")
    assert can_i_as_node(node, "get", "secrets", "-n", namespace).startswith("no")
    assert can_i_as_node(node, "list", "clustertrustbundles") == "yes"
    assert can_i_as_node(node, "get", f"node/{NODE_NAME}") == "yes"
    assert can_i_as_node(node, "get", "node/intruder").startswith("no"), "a node reads only its own Node"
    # NodeRestriction (an admission plugin, so a real request, run as a dry run): the node may change
    # its own Node object, not another's.
    label = "certmint.dev/identity-test=yes"
    own = node.kubectl("label", "node", NODE_NAME, label, "--dry-run=server", *AS_NODE, check=False)
    assert "labeled" in own, own
    intruder = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "intruder"}}
    refused = node.kubectl(
        "create", "-f", "-", "--dry-run=server", *AS_NODE, input_text=json.dumps(intruder), check=False
    )
    assert f'node "{NODE_NAME}" is not allowed to modify node "intruder"' in refused, refused


def pod_with(node: RunningNode, name: str, namespace: str, source: dict[str, Any]) -> dict[str, Any]:
    volumes = {"identity": {"projected": {"sources": [source]}}}
    return pod(node, name, namespace, "exec sleep infinity", volumes)


@pytest.mark.timeout(180)
def test_a_pod_certificate_volume_makes_the_kubelet_request_a_certificate(
    node: RunningNode, namespace: str
) -> None:
    source = {
        "podCertificate": {"signerName": SIGNER, "keyType": "ECDSAP256", "credentialBundlePath": "bundle.pem"}
    }
    apply(node, [pod_with(node, "asks", namespace, source)])
    created = json.loads(node.kubectl("get", "pod", "asks", "-n", namespace, "-o", "json"))

    def request() -> dict[str, Any] | None:
        listed = json.loads(node.kubectl("get", "podcertificaterequests", "-n", namespace, "-o", "json"))
        return next((item for item in listed["items"] if item["spec"]["podName"] == "asks"), None)

    wait_for(lambda: request() is not None, 120, "the kubelet's PodCertificateRequest")
    found = request()
    assert found is not None
    spec = found["spec"]
    account = json.loads(node.kubectl("get", "serviceaccount", "default", "-n", namespace, "-o", "json"))
    registered = json.loads(node.kubectl("get", "node", NODE_NAME, "-o", "json"))
    assert spec["signerName"] == SIGNER
    assert spec["podUID"] == created["metadata"]["uid"]
    assert spec["nodeName"] == NODE_NAME
    assert spec["nodeUID"] == registered["metadata"]["uid"]
    assert spec["serviceAccountName"] == "default"
    assert spec["serviceAccountUID"] == account["metadata"]["uid"]
    assert spec["maxExpirationSeconds"] == 86400
    assert found["metadata"]["generateName"] == "req-"
    (owner,) = found["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", "asks", created["metadata"]["uid"])
    stub = x509.load_der_x509_csr(base64.b64decode(spec["stubPKCS10Request"]))
    key = stub.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert "status" not in found or not found["status"].get("conditions"), "nobody signs example.com/test"
    phase = node.kubectl("get", "pod", "asks", "-n", namespace, "-o", "jsonpath={.status.phase}")
    assert phase == "Pending", "the pod waits for its certificate"


@pytest.mark.timeout(180)
def test_a_cluster_trust_bundle_is_projected_into_a_pod(node: RunningNode, namespace: str) -> None:
    ca_pem = (node.workdir / "cluster" / "ca.crt").read_text()
    name = f"{SIGNER.replace('/', ':')}:{namespace}"
    bundle = {
        "apiVersion": "certificates.k8s.io/v1beta1",
        "kind": "ClusterTrustBundle",
        "metadata": {"name": name, "labels": {"identity-test": namespace}},
        "spec": {"signerName": SIGNER, "trustBundle": ca_pem},
    }
    source = {
        "clusterTrustBundle": {
            "signerName": SIGNER,
            "labelSelector": {"matchLabels": {"identity-test": namespace}},
            "path": "trust.pem",
        }
    }
    try:
        apply(node, [bundle, pod_with(node, "trusts", namespace, source)])
        wait_pods_ready(node, namespace, "trusts", timeout=120)
        projected = node.kubectl("exec", "-n", namespace, "trusts", "--", "cat", "/identity/trust.pem")
        assert load_certificates_pem(projected.encode()) == load_certificates_pem(ca_pem.encode())
    finally:
        node.kubectl("delete", "clustertrustbundle", name, "--ignore-not-found")

"""Issue 24 end to end on the real API server: certmint signs PodCertificateRequests. The cluster is
API-only (no kubelet): the test creates the Node object, the ServiceAccount and a Pod with a
`podCertificate` projected volume, then the PodCertificateRequest as the kubelet would (a real key,
a stub PKCS#10 request whose signature the API server checks), as the admin. The API server's own
status validation is what accepts certmint's Issued status.

Needs the API server's PodCertificateRequest feature gate and certificates.k8s.io/v1beta1 (the
devcluster control plane enables them)."""

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certmint.api.kinds import ISSUERS
from certmint.cli import cluster as cli_cluster
from certmint.kube import podcerts
from certmint.pki import load_certificates_pem, load_crls_pem, serial_hex
from certmint.planning import reasons
from certmint.planning.issuers.revocation import CRL_KEY
from devcluster.controlplane import free_port
from tests.e2e import manifests
from tests.e2e.support import Cluster, OperatorProcess, certmint, wait_for
from tests.podcert_material import stub_request

TRUST_DOMAIN = "cluster.local"
NODE = "pcr-node"


@pytest.fixture
def pod_operator(
    cluster: Cluster, tmp_path: Path, without_session_operator: None
) -> Iterator[OperatorProcess]:
    """An operator with pod certificates on (the session's runs without)."""
    operator = OperatorProcess(
        cluster.plane,
        tmp_path / "operator.log",
        {"CERTMINT_METRICS_PORT": str(free_port()), "CERTMINT_POD_CERTIFICATES": "true"},
    )
    operator.start()
    yield operator
    operator.stop()


def served(cluster: Cluster) -> bool:
    found = cli_cluster.call(cluster.api, "GET", podcerts.discovery_path())
    return any(item.get("name") == podcerts.PLURAL for item in found.get("resources") or [])


def create(cluster: Cluster, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return cli_cluster.call(cluster.api, "POST", path, body)


def node(cluster: Cluster) -> dict[str, Any]:
    existing = cluster.core.list_node(field_selector=f"metadata.name={NODE}").items
    if existing:
        return dict(cluster.api.sanitize_for_serialization(existing[0]))
    return create(cluster, "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}})


def pod_manifest(namespace: str, signers: list[str]) -> dict[str, Any]:
    sources = [
        {
            "podCertificate": {
                "signerName": signer,
                "keyType": "ECDSAP256",
                "credentialBundlePath": f"c{i}.pem",
            }
        }
        for i, signer in enumerate(signers)
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": namespace},
        "spec": {
            "serviceAccountName": "web",
            "automountServiceAccountToken": False,
            "nodeName": NODE,
            "containers": [{"name": "app", "image": "nginx"}],
            "volumes": [{"name": "identity", "projected": {"sources": sources}}],
        },
    }


def request_manifest(
    name: str,
    signer: str,
    pod: dict[str, Any],
    account: dict[str, Any],
    node_body: dict[str, Any],
    stub: bytes,
) -> dict[str, Any]:
    return {
        "apiVersion": podcerts.GROUP_VERSION,
        "kind": "PodCertificateRequest",
        "metadata": {"name": name, "namespace": pod["metadata"]["namespace"]},
        "spec": {
            "signerName": signer,
            "podName": pod["metadata"]["name"],
            "podUID": pod["metadata"]["uid"],
            "serviceAccountName": account["metadata"]["name"],
            "serviceAccountUID": account["metadata"]["uid"],
            "nodeName": NODE,
            "nodeUID": node_body["metadata"]["uid"],
            "maxExpirationSeconds": 3600,
            "stubPKCS10Request": base64.b64encode(stub).decode(),
        },
    }


def final_condition(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    body = cli_cluster.call(cluster.api, "GET", podcerts.path(namespace, name))
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Issued", "Denied", "Failed"):
            return {**condition, "status_body": body["status"]}
    return None


@pytest.mark.timeout(300)
def test_a_pod_certificate_request_is_issued_and_one_for_an_issuer_that_did_not_opt_in_is_denied(
    cluster: Cluster, namespace: str, pod_operator: OperatorProcess
) -> None:
    assert served(cluster), "the API server must enable the PodCertificateRequest gate and v1beta1"
    signer = f"issuers.certmint.dev/{namespace}.ca"
    plain_signer = f"issuers.certmint.dev/{namespace}.plain"
    cluster.apply(
        manifests.issuer(
            namespace,
            "ca",
            selfSigned={},
            podCertificates={"dnsNameTemplates": ["${serviceAccount}.${namespace}.svc"]},
        )
    )
    cluster.apply(manifests.issuer(namespace, "plain", selfSigned={}))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    cluster.wait_condition(ISSUERS.plural, namespace, "plain", "True")
    node_body = node(cluster)
    account = create(
        cluster, f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "web"}}
    )
    pod = create(
        cluster, f"/api/v1/namespaces/{namespace}/pods", pod_manifest(namespace, [signer, plain_signer])
    )
    key = ec.generate_private_key(ec.SECP256R1())
    stub = stub_request(key)
    create(
        cluster, podcerts.path(namespace), request_manifest("issued", signer, pod, account, node_body, stub)
    )
    create(
        cluster,
        podcerts.path(namespace),
        request_manifest("denied", plain_signer, pod, account, node_body, stub),
    )

    issued = wait_for(lambda: final_condition(cluster, namespace, "issued"), 120, what="the request answered")
    assert (issued["type"], issued["reason"]) == ("Issued", reasons.POD_CERTIFICATE_ISSUED), issued
    status = issued["status_body"]
    leaf, ca = load_certificates_pem(status["certificateChain"].encode())[:2]
    leaf.verify_directly_issued_by(ca)
    assert leaf.public_key() == key.public_key()
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/web"
    ]
    assert sans.get_values_for_type(x509.DNSName) == [f"web.{namespace}.svc"]
    assert status["notAfter"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")

    denied = wait_for(lambda: final_condition(cluster, namespace, "denied"), 120, what="the request answered")
    assert (denied["type"], denied["reason"]) == ("Denied", reasons.POD_CERTIFICATES_NOT_ENABLED), denied
    assert f"set spec.podCertificates: {{}} on Issuer {namespace}/plain" in denied["message"]

    listing = certmint(cluster, "pod-certificates", "-n", namespace)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[2]: line for line in listing.stdout.splitlines()[1:]}
    assert "Issued/PodCertificateIssued" in rows["issued"]
    assert "Denied/PodCertificatesNotEnabled" in rows["denied"]
    assert serial_hex(leaf.serial_number) in rows["issued"]
    events = cluster.events(namespace, "issued")
    assert reasons.POD_CERTIFICATE_ISSUED in [event.reason for event in events]

    serial = serial_hex(leaf.serial_number)
    revoked = certmint(cluster, "revoke", "--serial", serial, "-n", namespace, "--reason", "keyCompromise")
    assert revoked.returncode == 0, revoked.stderr
    assert f"PodCertificateRequest {namespace}/issued" in revoked.stdout
    wait_for(lambda: crl_lists(cluster, namespace, leaf.serial_number), 60, what="the issuer's CRL lists it")


def crl_lists(cluster: Cluster, namespace: str, serial: int) -> bool:
    data = cluster.secret_data(namespace, "ca-ca") or {}
    crls = load_crls_pem(data[CRL_KEY]) if CRL_KEY in data else []
    return any(crl.get_revoked_certificate_by_serial_number(serial) is not None for crl in crls)

"""Issue 15 on a real node: a pod generates its key in memory, gets its certificate through the
Kubernetes CSR API with its own projected ServiceAccount token, and serves mutual TLS with it to a
client pod holding a certificate certmint issued the usual way."""

import base64
import json

import pytest
from cryptography import x509

from certmint.pki import load_certificates_pem, serial_hex
from devcluster.node import RunningNode
from devcluster.node.workloads import (
    CLIENT_CERTIFICATE,
    MutualTLS,
    apply,
    certificate,
    csr_requester_rbac,
    csr_server,
    curl_from_client,
    issuer,
    pod,
    trust_bundle,
    wait_for,
    wait_pods_ready,
)

ACCOUNT = "web"


def signed_chain(node: RunningNode, name: str) -> list[x509.Certificate] | None:
    output = node.kubectl("get", "csr", name, "-o", "json", check=False)
    if not output.startswith("{"):
        return None
    found = json.loads(output)
    certificate_b64 = (found.get("status") or {}).get("certificate")
    return load_certificates_pem(base64.b64decode(certificate_b64)) if certificate_b64 else None


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("release")
def test_a_pod_gets_its_certificate_with_its_own_token_and_serves_mutual_tls(
    node: RunningNode, namespace: str
) -> None:
    setup = MutualTLS(namespace, bundle=f"bundle-{namespace}", server_pod="csr-web")
    csr_name = f"csr-web-{namespace}"
    trust = {"configMap": {"name": setup.bundle}}
    apply(
        node,
        [
            issuer(namespace),
            certificate(namespace, "client", commonName="client"),
            trust_bundle(setup.bundle, namespace),
            *csr_requester_rbac(namespace, ACCOUNT),
            pod(node, setup.client_pod, namespace, "exec sleep infinity",
                {"tls": {"secret": {"secretName": "client-tls"}}, "trust": trust}),
            *csr_server(node, setup, csr_name, ACCOUNT),
        ],
    )  # fmt: skip
    try:
        wait_for(
            lambda: '"username"' in node.kubectl("get", "csr", csr_name, "-o", "json", check=False),
            180,
            what="the pod's CSR",
        )
        sent = json.loads(node.kubectl("get", "csr", csr_name, "-o", "json"))
        assert sent["spec"]["username"] == f"system:serviceaccount:{namespace}:{ACCOUNT}", "its own token"
        node.kubectl("certificate", "approve", csr_name)  # an admin; the chart's operator signs
        wait_pods_ready(node, namespace, setup.server_pod, setup.client_pod)
        chain = signed_chain(node, csr_name)
        assert chain is not None
        leaf = chain[0]
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
            f"spiffe://cluster.local/ns/{namespace}/sa/{ACCOUNT}"
        ]
        serial = serial_hex(leaf.serial_number)
        assert f"serving {serial}" in node.kubectl("logs", "-n", namespace, setup.server_pod)

        answer = curl_from_client(node, setup, *CLIENT_CERTIFICATE)
        assert answer.status == 200, answer.text
        assert answer.text.strip() == f"client=CN=client server-serial={serial}"
        without = curl_from_client(node, setup)
        assert without.status == 0, "no client certificate: the handshake fails"
        # The key lives in the pod's memory only: no Secret anywhere in the namespace holds this leaf.
        secrets = json.loads(node.kubectl("get", "secrets", "-n", namespace, "-o", "json"))["items"]
        published = [
            load_certificates_pem(base64.b64decode(item["data"]["tls.crt"]))[0].serial_number
            for item in secrets
            if "tls.crt" in (item.get("data") or {})
        ]
        assert leaf.serial_number not in published
    finally:
        node.kubectl("delete", "csr", csr_name, "--ignore-not-found")
        node.kubectl(
            "delete", "clusterrolebinding,clusterrole", f"csr-requester-{namespace}", "--ignore-not-found"
        )

"""Issue 24, the proof on the real node: unmodified nginx and curl pods whose only identity is a
projected volume with a `podCertificate` and a `clusterTrustBundle` source. The kubelet (running as
system:node:certmint-node) makes each key on the node and asks with a PodCertificateRequest; the
operator pod signs it and publishes the issuer's CAs as a ClusterTrustBundle.

One scenario: mutual TLS between the two pods (strangers refused); the keys in no API object nor the
operator's log; a scheduled CA rotation of the issuer while the pods run, then the kubelet's refresh
of both pods' certificates, which brings certificates of the new CA; the client pod samples a
handshake every second all along and none fails."""

import base64
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmint.pki import load_certificates_pem
from devcluster.node import RunningNode
from devcluster.node.workloads import (
    CREDENTIALS,
    IDENTITY_VOLUME,
    POD_CERTIFICATE_NGINX_CONFIG,
    POD_CERTIFICATE_SERVER_SCRIPT,
    PORT,
    TRUST,
    Answer,
    apply,
    certificate,
    identity_pod,
    issuer,
    issuer_signer_name,
    pod,
    pod_certificate_issuer,
    pod_certificate_sampler_script,
    pod_identity,
    pod_ip,
    service_account,
    wait_for,
    wait_pods_ready,
)

TRUST_DOMAIN = "cluster.local"
"""The chart's default trustDomain."""
OPERATOR_NAMESPACE = "certmint"
FRAGMENT = 40
"""Characters of a key's base64 body searched for: long enough never to occur by chance."""

# The issuer's CA lives 70 min (71 with its minute of backdating) and its scheduled rotation starts
# with 90% of that left, 6.1 min after it was made: by then the pods run and sample. The next CA is
# trusted for 45 s (and until the ClusterTrustBundle holds it) before it signs, ~6.9 min in; the
# previous one stays trusted while a pod certificate it signed may live (podCertificates.maxDuration,
# 1h). (A requested rotation, `certmint ca rotate`, distrusts the previous CA one propagationDelay
# after the activation instead, long before the kubelet refreshes a pod certificate.) Pod
# certificates live 1h and refresh 77% before their end: beginRefreshAt is 13.8 min after notBefore,
# 9.8 min after issuance (notBefore is backdated 4 min), and the kubelet adds 0-5 min of jitter and
# up to 2 min until its next refresh pass, so the refresh comes 10-17 min after the pods got their
# first certificates, always after the activation (~7 min after the CA was made): the refreshed
# certificates are the new CA's. A 70 min CA still signs a full hour until the activation.
ROTATION = {"rotateBeforePercentage": 90, "propagationDelay": "45s", "reissueWindow": "40s"}
CA_DURATION = "70m"


@dataclass(frozen=True)
class ServerState:
    """What the nginx pod loaded: one line of its log, written at start and at every reload."""

    when: float
    serial: int
    chain: list[x509.Certificate]
    trust: list[x509.Certificate]


@dataclass(frozen=True)
class Sample:
    """One request of the client pod: its own serial before and after, and nginx's answer."""

    when: float
    own: tuple[int, int]
    answer: str

    @property
    def ok(self) -> bool:
        found = re.search(r"verify=(\S+) serial=([0-9A-Fa-f]+)\s+code=200", self.answer)
        return found is not None and found[1] == "SUCCESS" and int(found[2], 16) in self.own


def server_states(node: RunningNode, namespace: str) -> list[ServerState]:
    states = []
    for line in node.kubectl("logs", "-n", namespace, "web").splitlines():
        parts = line.split(" ")
        if len(parts) == 5 and parts[0] == "state":
            states.append(
                ServerState(
                    float(parts[1]),
                    int(parts[2], 16),
                    load_certificates_pem(base64.b64decode(parts[3])),
                    load_certificates_pem(base64.b64decode(parts[4])),
                )
            )
    return states


def client_samples(node: RunningNode, namespace: str) -> list[Sample]:
    samples = []
    for line in node.kubectl("logs", "-n", namespace, "client").splitlines():
        found = re.match(r"^sample (\S+) own=([0-9A-F]*),([0-9A-F]*) (.*)$", line)
        if found and found[2] and found[3]:
            samples.append(Sample(float(found[1]), (int(found[2], 16), int(found[3], 16)), found[4]))
    return samples


def bundle_of(node: RunningNode, namespace: str, pod_name: str) -> str:
    """The credential bundle the kubelet wrote into the pod: key, then chain."""
    return node.kubectl("exec", "-n", namespace, pod_name, "--", "cat", f"/{IDENTITY_VOLUME}/{CREDENTIALS}")


def chain_of(bundle: str) -> list[x509.Certificate]:
    return load_certificates_pem(bundle.encode())


def key_body(bundle: str) -> str:
    """The base64 body of the bundle's PKCS#8 key, without line breaks."""
    found = re.search(r"-----BEGIN PRIVATE KEY-----\n(.+?)-----END PRIVATE KEY-----", bundle, re.DOTALL)
    assert found, "the credential bundle starts with a PKCS#8 key"
    return "".join(found[1].split())


def names_of(leaf: x509.Certificate) -> tuple[list[str], list[str]]:
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.UniformResourceIdentifier), san.get_values_for_type(x509.DNSName)


def signed_by(leaf: x509.Certificate, cas: Iterable[x509.Certificate]) -> x509.Certificate | None:
    for ca in cas:
        try:
            leaf.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return ca
    return None


def curl_in(node: RunningNode, namespace: str, pod_name: str, address: str, *args: str) -> Answer:
    """One request from a pod to the nginx pod, checking nginx against the pod's projected trust."""
    server_name = f"web.{namespace}.svc"
    output = node.kubectl(
        "exec",
        "-n",
        namespace,
        pod_name,
        "--",
        "curl",
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        f"/{IDENTITY_VOLUME}/{TRUST}",
        "--resolve",
        f"{server_name}:{PORT}:{address}",
        *args,
        f"https://{server_name}:{PORT}/",
        "-w",
        "\n%{http_code}",
        check=False,
    )
    body, _, code = output.rstrip("\n").rpartition("\n")
    status = int(code) if code.isdigit() else 0
    return Answer(status, body if status else output)


def cluster_json(node: RunningNode, *resources: str) -> list[tuple[str, dict[str, Any]]]:
    """(kind/namespace/name, object) of every object of these resources in every namespace."""
    found = []
    for resource in resources:
        listing = json.loads(node.kubectl("get", resource, "-A", "-o", "json"))
        for item in listing["items"]:
            meta = item.get("metadata", {})
            found.append((f"{item.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}", item))
    return found


def assert_keys_in_no_api_object(node: RunningNode, bodies: dict[str, str]) -> None:
    """Every Secret (its data decoded too), ConfigMap, PodCertificateRequest, ClusterTrustBundle,
    Event, Pod and certmint object of the cluster, and the operator pod's log: no fragment of any of
    these keys; and no PEM private key marker anywhere but in Secrets (where certmint's CA keys and
    the stranger's key live, by design)."""
    needles: dict[str, str] = {}
    secrets_of: dict[str, bytes] = {}
    for what, body in bodies.items():
        der = base64.b64decode(body)
        key = serialization.load_der_private_key(der, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey), f"{what}: the pods ask for ECDSAP256"
        scalar = key.private_numbers().private_value.to_bytes(32, "big")
        # Every P-256 PKCS#8 key starts with the same 36 bytes (48 base64 characters): the fragment
        # searched for is the base64 text of the private scalar that follows them.
        assert der[36:68] == scalar, f"{what}: a PKCS#8 P-256 key"
        needles[f"{what} (base64 body)"] = body[48 : 48 + FRAGMENT]
        needles[f"{what} (hex)"] = scalar.hex()
        secrets_of[what] = scalar
    secrets = cluster_json(node, "secrets")
    others = cluster_json(
        node,
        "configmaps",
        "podcertificaterequests.certificates.k8s.io",
        "clustertrustbundles.certificates.k8s.io",
        "events",
        "pods",
        "issuers.certmint.dev",
        "certificates.certmint.dev",
        "trustbundles.certmint.dev",
    )
    assert any(name.startswith("PodCertificateRequest/") for name, _ in others), "no PCR to search"
    log = node.kubectl("logs", "-n", OPERATOR_NAMESPACE, "deployment/certmint", "--all-containers")
    assert log, "the operator pod's log is empty"
    texts = [(name, json.dumps(item)) for name, item in (*secrets, *others)] + [("operator log", log)]
    for name, item in secrets:
        for field, value in (item.get("data") or {}).items():
            decoded = base64.b64decode(value)
            texts.append((f"{name} data {field}", decoded.decode(errors="replace").replace("\n", "")))
            for what, scalar in secrets_of.items():
                assert scalar not in decoded, f"{what}'s private scalar in {name} data {field}"
    for where, text in texts:
        for what, needle in needles.items():
            assert needle not in text, f"{what} found in {where}"
    for where, text in [(name, json.dumps(item)) for name, item in others] + [("operator log", log)]:
        assert "PRIVATE KEY" not in text, f"a PEM private key marker in {where}"


def stranger(node: RunningNode, namespace: str, signer_name: str) -> list[dict[str, Any]]:
    """A Certificate of another issuer in a Secret, and a pod that presents it; it trusts the
    ClusterTrustBundle of the server's signer so that only the server's refusal can fail it."""
    trust_only = pod_identity(signer_name)
    trust_only["projected"]["sources"] = trust_only["projected"]["sources"][1:]
    return [
        issuer(namespace, "other"),
        certificate(namespace, "stranger", issuer_name="other", commonName="stranger"),
        pod(
            node,
            "intruder",
            namespace,
            "exec sleep infinity",
            {IDENTITY_VOLUME: trust_only, "tls": {"secret": {"secretName": "stranger-tls"}}},
        ),
    ]


def certmint_cli(node: RunningNode, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "certmint.cli.main", "--kubeconfig", str(node.kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def start_pods(node: RunningNode, namespace: str, signer: str) -> str:
    """The issuer, the nginx pod, then (with nginx's address) the sampling client and the intruder;
    returns nginx's address."""
    ca_issuer = pod_certificate_issuer(
        namespace,
        dnsNameTemplates=["${serviceAccount}.${namespace}.svc"],
        maxDuration="1h",
        renewBeforePercentage=77,
    )
    ca_issuer["spec"]["selfSigned"].update({"caDuration": CA_DURATION, "rotation": ROTATION})
    nginx_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nginx", "namespace": namespace},
        "data": {"nginx.conf": POD_CERTIFICATE_NGINX_CONFIG},
    }
    server = identity_pod(
        node,
        "web",
        namespace,
        POD_CERTIFICATE_SERVER_SCRIPT,
        "web",
        signer,
        config={"configMap": {"name": "nginx"}},
    )
    apply(
        node,
        [
            ca_issuer,
            service_account(namespace, "web"),
            service_account(namespace, "client"),
            nginx_config,
            server,
        ],
    )
    wait_pods_ready(node, namespace, "web", timeout=300)
    address = pod_ip(node, namespace, "web")
    sampler = pod_certificate_sampler_script(f"web.{namespace}.svc", address)
    apply(
        node,
        [
            identity_pod(node, "client", namespace, sampler, "client", signer),
            *stranger(node, namespace, signer),
        ],
    )
    wait_pods_ready(node, namespace, "client", "intruder", timeout=300)
    return address


def check_mutual_tls(node: RunningNode, namespace: str, address: str) -> tuple[str, str]:
    """Identity from the pod; the client answered with its own certificate, strangers refused.
    Returns the credential bundles of the server and the client."""
    server_bundle, client_bundle = bundle_of(node, namespace, "web"), bundle_of(node, namespace, "client")
    for account, bundle in (("web", server_bundle), ("client", client_bundle)):
        uris, dns_names = names_of(chain_of(bundle)[0])
        assert uris == [f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{account}"], uris
        assert dns_names == [f"{account}.{namespace}.svc"], dns_names
    client_leaf = chain_of(client_bundle)[0]

    wait_for(
        lambda: any(sample.ok for sample in client_samples(node, namespace)),
        120,
        "the client pod's first answered request",
        interval=2,
    )
    answered = next(sample for sample in client_samples(node, namespace) if sample.ok)
    assert client_leaf.serial_number in answered.own, (answered, client_leaf.serial_number)
    own = f"/{IDENTITY_VOLUME}/{CREDENTIALS}"
    direct = curl_in(node, namespace, "client", address, "--cert", own, "--key", own)
    assert direct.status == 200, direct.text
    verify, _, serial = direct.text.strip().partition(" serial=")
    assert verify == "verify=SUCCESS", direct.text
    assert int(serial, 16) == client_leaf.serial_number, (serial, client_leaf.serial_number)

    without = curl_in(node, namespace, "client", address)
    assert without.status == 400, without.text
    assert "No required SSL certificate was sent" in without.text
    foreign = curl_in(node, namespace, "intruder", address, "--cert", "/tls/tls.crt", "--key", "/tls/tls.key")
    assert foreign.status == 400, foreign.text
    assert "The SSL certificate error" in foreign.text
    assert "verify=" not in foreign.text
    return server_bundle, client_bundle


def check_rotation_and_refresh(node: RunningNode, namespace: str, signer: str, first_client: str) -> None:
    """Waits for nginx to load a certificate of a CA other than the first and for the client to hold
    one too; the new CA was in nginx's projected trust before; every sample answered."""
    first_ca = server_states(node, namespace)[0].chain[1]
    client_leaf = chain_of(first_client)[0]

    def refreshed_on_new_ca() -> bool:
        states = server_states(node, namespace)
        client_chain = chain_of(bundle_of(node, namespace, "client"))
        return (
            any(signed_by(state.chain[0], [first_ca]) is None for state in states)
            and signed_by(client_chain[0], [first_ca]) is None
        )

    wait_for(refreshed_on_new_ca, 2100, "both pods' refreshed certificates of the new CA", interval=10)
    states = server_states(node, namespace)
    samples = client_samples(node, namespace)

    new_ca = next(ca for state in states for ca in state.trust if ca != first_ca)
    first_trusting = next(i for i, state in enumerate(states) if new_ca in state.trust)
    first_serving = next(i for i, state in enumerate(states) if signed_by(state.chain[0], [new_ca]))
    assert 0 < first_trusting < first_serving, [(s.when, s.serial, len(s.trust)) for s in states]
    for state in states:
        assert signed_by(state.chain[0], state.trust) is not None, (state.when, state.serial)
    assert len({state.serial for state in states}) >= 2, "nginx served the refreshed certificate"
    assert chain_of(bundle_of(node, namespace, "client"))[0].serial_number != client_leaf.serial_number

    ctb_name = signer.replace("/", ":") + ":primary"
    ctb = json.loads(node.kubectl("get", "clustertrustbundles.certificates.k8s.io", ctb_name, "-o", "json"))
    assert ctb["spec"]["signerName"] == signer
    published = load_certificates_pem(ctb["spec"]["trustBundle"].encode())
    assert first_ca in published, "the previous CA stays trusted while its pod certificates live"
    assert new_ca in published

    switch = states[first_serving].when
    assert samples[0].when < switch < samples[-1].when, "the samples span the switch to the new CA"
    failures = [sample for sample in samples if not sample.ok]
    assert not failures, f"{len(failures)} of {len(samples)} samples failed: {failures[:5]}"
    assert len(samples) >= 60, len(samples)
    restarts = node.kubectl(
        "get", "pod", "client", "-n", namespace, "-o", "jsonpath={.status.containerStatuses[0].restartCount}"
    )
    assert restarts.strip() == "0", f"the sampler restarted {restarts} times"
    print(
        f"\n{len(samples)} handshakes sampled over {samples[-1].when - samples[0].when:.0f} s, 0 failed; "
        f"nginx loaded {len(states)} states; the new CA in its trust at state {first_trusting}, "
        f"served at state {first_serving}",
        file=sys.stderr,
    )


@pytest.mark.timeout(2700)
@pytest.mark.usefixtures("pod_certificates_release")
def test_unmodified_pods_serve_mutual_tls_with_keys_made_on_the_node(
    node: RunningNode, namespace: str
) -> None:
    signer = issuer_signer_name(namespace, "ca")
    address = start_pods(node, namespace, signer)
    first_server, first_client = check_mutual_tls(node, namespace, address)
    first_keys = {"server key": key_body(first_server), "client key": key_body(first_client)}
    assert_keys_in_no_api_object(node, first_keys)

    check_rotation_and_refresh(node, namespace, signer, first_client)

    refreshed = {
        "refreshed server key": key_body(bundle_of(node, namespace, "web")),
        "refreshed client key": key_body(bundle_of(node, namespace, "client")),
    }
    assert not set(refreshed.values()) & set(first_keys.values()), "the kubelet made new keys"
    assert_keys_in_no_api_object(node, first_keys | refreshed)
    # certmint finds the pods' certificates (while their PodCertificateRequests live: 15 minutes).
    listing = certmint_cli(node, "pod-certificates", "-n", namespace)
    assert "client" in listing, listing
    assert "web" in listing, listing

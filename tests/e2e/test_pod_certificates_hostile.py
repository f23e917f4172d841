"""Issue 24, hostile: a real non-admin user of namespace A, with RBAC to create PodCertificateRequests
in A (a right Kubernetes gives only nodes by default), writes them by hand, whatever they claim.
The API server checks a node's requests against the pod (NodeRestriction), not this user's: certmint
must. A cannot get B's identity nor another pod's, an issuer that has not opted in, an unsupported
key type and unknown user annotations are each Denied with their reason, and certmint, acting as a
cluster admin, writes nothing but those requests' status and events, recorded by the API server's
audit log for the operator's own identity.

The control plane is this module's own (devcluster's, which serves PodCertificateRequests and
ClusterTrustBundles), with an audit log of the operator's writes."""

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import ISSUERS
from tests.e2e.audit import OPERATOR_USER, Audited, audited_operator
from tests.e2e.canary import tenant_client
from tests.e2e.manifests import issuer
from tests.e2e.support import Cluster, json_object, wait_for

GROUP, VERSION, PLURAL = "certificates.k8s.io", "v1beta1", "podcertificaterequests"
NODE = "hostile-node"
TEMPLATES = ["${serviceAccount}.${namespace}.svc"]
WRITES = ["create", "update", "patch", "delete", "deletecollection"]
TERMINAL = ("Issued", "Denied", "Failed")

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def audit_rules() -> list[dict[str, Any]]:
    """Every write of the operator's identity: Secrets without their bodies (CA keys), the rest with
    the request (an Event's involvedObject)."""
    return [
        {
            "level": "Metadata",
            "users": [OPERATOR_USER],
            "verbs": WRITES,
            "resources": [{"resources": ["secrets"]}],
        },
        {"level": "Request", "users": [OPERATOR_USER], "verbs": WRITES},
        {"level": "None"},
    ]


def writes_since(audited: Audited, offset: int) -> list[dict[str, Any]]:
    """The operator's writes the API server completed since `offset`, as audit events."""
    return [e for e in audited.requests_since(offset) if e["stage"] == "ResponseComplete"]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    # devcluster's control plane turns the gates and certificates.k8s.io/v1beta1 on by default.
    workdir = tmp_path_factory.mktemp("pod-certificates")
    with audited_operator(workdir, audit_rules(), {"CERTMINT_POD_CERTIFICATES": "true"}) as audited:
        yield audited


def signer_name(namespace: str, name: str = "ca") -> str:
    return f"issuers.certmint.dev/{namespace}.{name}"


def pod_manifest(name: str, account: str, signer: str | None) -> dict[str, Any]:
    """A pod bound to the (fake) node; with a podCertificate volume for `signer` unless None."""
    volumes = []
    if signer:
        source = {
            "podCertificate": {"signerName": signer, "keyType": "ECDSAP256", "credentialBundlePath": "c.pem"}
        }
        volumes.append({"name": "id", "projected": {"sources": [source]}})
    return {
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": account,
            "nodeName": NODE,
            "containers": [{"name": "app", "image": "peer:unused"}],
            "volumes": volumes,
        },
    }


@dataclass(frozen=True)
class Scene:
    """Namespaces A and B, A's pods and accounts, the node, and the tenant of A."""

    a: str
    b: str
    pods: dict[str, dict[str, Any]]
    accounts: dict[str, str]
    node_uid: str
    tenant: client.ApiClient


def _namespace(cluster: Cluster, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": name}}))
    return name


def uid_of(found: Any) -> str:
    uid = found.metadata.uid if found.metadata else None
    assert isinstance(uid, str), found
    return uid


@pytest.fixture(scope="module")
def scene(audited: Audited) -> Scene:
    cluster = audited.cluster
    a, b = _namespace(cluster, "pcr-a"), _namespace(cluster, "pcr-b")
    cluster.apply(issuer(a, "ca", selfSigned={}, podCertificates={"dnsNameTemplates": TEMPLATES}))
    cluster.apply(issuer(a, "plain", selfSigned={}))
    cluster.apply(issuer(b, "ca", selfSigned={}, podCertificates={"dnsNameTemplates": TEMPLATES}))
    for namespace, name in ((a, "ca"), (a, "plain"), (b, "ca")):
        cluster.wait_condition(ISSUERS.plural, namespace, name, "True", timeout=60)
    node = cluster.core.create_node(client.V1Node.model_validate({"metadata": {"name": NODE}}))
    accounts = {}
    for account in ("app", "other"):
        made = cluster.core.create_namespaced_service_account(
            a, client.V1ServiceAccount.model_validate({"metadata": {"name": account}})
        )
        accounts[account] = uid_of(made)
    pods = {}
    for name, account, signer in (
        ("app", "app", signer_name(a)),
        ("greedy", "app", signer_name(b)),
        ("plain", "app", None),
        ("unopted", "app", signer_name(a, "plain")),
    ):
        created = cluster.core.create_namespaced_pod(
            a, client.V1Pod.model_validate(pod_manifest(name, account, signer))
        )
        pods[name] = {"uid": uid_of(created), "account": account}
    rules = [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["create", "get", "list", "watch"]}]
    return Scene(a, b, pods, accounts, uid_of(node), tenant_client(cluster, a, rules))


def stub_request(key: Key) -> str:
    """The kubelet's stub PKCS#10 request: empty subject, signed by the key; base64 of its DER."""
    algorithm: hashes.SHA256 | hashes.SHA512 | None = None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = hashes.SHA512() if key.curve.key_size > 384 else hashes.SHA256()
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, algorithm)
    return base64.b64encode(csr.public_bytes(Encoding.DER)).decode()


def request(
    scene: Scene, signer: str, pod: str = "app", key: Key | None = None, **override: Any
) -> dict[str, Any]:
    """A PodCertificateRequest in A as the kubelet would write it for `pod`, but for `override`."""
    facts = scene.pods.get(pod, {"uid": str(uuid.uuid4()), "account": "app"})
    spec = {
        "signerName": signer,
        "podName": pod,
        "podUID": facts["uid"],
        "serviceAccountName": facts["account"],
        "serviceAccountUID": scene.accounts[facts["account"]],
        "nodeName": NODE,
        "nodeUID": scene.node_uid,
        "maxExpirationSeconds": 3600,
        "stubPKCS10Request": stub_request(key or ec.generate_private_key(ec.SECP256R1())),
        **override,
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodCertificateRequest",
        "metadata": {"generateName": "req-"},
        "spec": spec,
    }


def create(scene: Scene, manifest: dict[str, Any], namespace: str | None = None) -> str:
    """Creates the request as the tenant; its name."""
    objects = client.CustomObjectsApi(scene.tenant)
    created = json_object(
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace or scene.a, PLURAL, manifest)
    )
    name: str = created["metadata"]["name"]
    return name


def outcome(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The request's one terminal condition, once certmint has written it."""

    def terminal() -> dict[str, Any] | None:
        found = json_object(
            cluster.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        )
        for condition in (found.get("status") or {}).get("conditions") or []:
            if condition["type"] in TERMINAL and condition["status"] == "True":
                result: dict[str, Any] = {**condition, "status_fields": found["status"]}
                return result
        return None

    return wait_for(terminal, 60, what=f"a terminal condition on PodCertificateRequest {namespace}/{name}")


def test_a_tenant_gets_no_identity_but_its_pods_and_certmint_writes_only_the_requests(
    audited: Audited, scene: Scene
) -> None:
    cluster, a, b = audited.cluster, scene.a, scene.b
    # Settled before the first request: the issuers' ClusterTrustBundles are published and nothing is queued.
    ctbs = [f"issuers.certmint.dev:{namespace}.ca:primary" for namespace in (a, b)]
    wait_for(lambda: all(_ctb_exists(cluster, ctb) for ctb in ctbs), 60, what=f"ClusterTrustBundles {ctbs}")
    wait_for(lambda: audited.operator.settled(0, "Issuer"), 60, what="an idle operator")
    offset = audited.offset()

    # The premise: the tenant may create requests in A, not in B.
    with pytest.raises(ApiException) as forbidden:
        create(scene, request(scene, signer_name(b)), namespace=b)
    assert forbidden.value.status == 403
    # RSA 2048: the API server itself refuses the request.
    with pytest.raises(ApiException) as invalid:
        create(scene, request(scene, signer_name(a), key=rsa.generate_private_key(65537, 2048)))
    assert invalid.value.status == 422

    cases = {
        "B's identity for a pod of A that asks for it": (
            request(scene, signer_name(b), pod="greedy"),
            "RequesterNotAllowed",
        ),
        "another pod's UID": (
            request(scene, signer_name(a), podUID=scene.pods["greedy"]["uid"]),
            "PodMismatch",
        ),
        "a made-up pod UID": (request(scene, signer_name(a), podUID=str(uuid.uuid4())), "PodMismatch"),
        "another service account": (
            request(
                scene, signer_name(a), serviceAccountName="other", serviceAccountUID=scene.accounts["other"]
            ),
            "PodMismatch",
        ),
        "another node": (request(scene, signer_name(a), nodeName="elsewhere"), "PodMismatch"),
        "a pod that does not exist": (request(scene, signer_name(a), pod="ghost"), "PodMismatch"),
        "a pod without a podCertificate volume for the signer": (
            request(scene, signer_name(a), pod="plain"),
            "PodMismatch",
        ),
        "an issuer that has not opted in": (
            request(scene, signer_name(a, "plain"), pod="unopted"),
            "PodCertificatesNotEnabled",
        ),
        "ECDSA P-521": (
            request(scene, signer_name(a), key=ec.generate_private_key(ec.SECP521R1())),
            "UnsupportedKeyType",
        ),
        "unknown user annotations": (
            request(
                scene,
                signer_name(a),
                unverifiedUserAnnotations={"example.com/dns-name": "bank.example.com", "certmint.dev/x": "1"},
            ),
            "UnknownUserAnnotation",
        ),
    }
    names = {what: create(scene, manifest) for what, (manifest, _) in cases.items()}
    honest = create(scene, request(scene, signer_name(a)))

    for what, (_, reason) in cases.items():
        found = outcome(cluster, a, names[what])
        assert (found["type"], found["reason"]) == ("Denied", reason), (what, found)
        assert set(found["status_fields"]) == {"conditions"}, (what, found["status_fields"])
    messages = {what: outcome(cluster, a, names[what])["message"] for what in cases}
    assert "spec.podCertificates" in messages["an issuer that has not opted in"]
    for supported in ("ECDSAP256", "ECDSAP384", "RSA3072", "RSA4096", "ED25519"):
        assert supported in messages["ECDSA P-521"], messages["ECDSA P-521"]
    assert "example.com/dns-name" in messages["unknown user annotations"]

    # What the check cannot stop: a request true to every fact of a pod of A that mounts a
    # podCertificate for A's issuer is Issued, with the tenant's key, for that pod's identity and
    # nothing else. A PCR does not record its creator, so certmint cannot tell this tenant from the
    # node: the right to create PCRs is the right to every such pod's identity (the README says so).
    issued = outcome(cluster, a, honest)
    assert issued["type"] == "Issued", issued
    leaf = x509.load_pem_x509_certificates(issued["status_fields"]["certificateChain"].encode())[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://cluster.local/ns/{a}/sa/app"
    ]
    assert san.get_values_for_type(x509.DNSName) == [f"app.{a}.svc"]

    # What certmint wrote meanwhile: the status of these requests, events about them, and nothing else.
    wait_for(lambda: audited.operator.settled(0, "Issuer"), 60, what="an idle operator")
    ours = {*names.values(), honest}
    writes = writes_since(audited, offset)
    statuses = [w for w in writes if _is_status_of(w, a, ours)]
    assert {w["objectRef"]["name"] for w in statuses} == ours, "every request's status, written by certmint"
    others = [w for w in writes if not _is_status_of(w, a, ours) and not _is_event_about(w, a, ours)]
    assert not others, [_describe(w) for w in others]
    assert not any(w["objectRef"].get("namespace") == b for w in writes), "nothing in B"
    # ClusterTrustBundles, over the whole run: only certmint's own, one per issuer that opted in.
    bundles = {
        w["objectRef"]["name"]
        for w in writes_since(audited, 0)
        if w["objectRef"].get("resource") == "clustertrustbundles"
    }
    assert bundles == {f"issuers.certmint.dev:{namespace}.ca:primary" for namespace in (a, b)}, bundles


def _ctb_exists(cluster: Cluster, name: str) -> bool:
    try:
        cluster.custom.get_cluster_custom_object(GROUP, VERSION, "clustertrustbundles", name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _is_status_of(write: dict[str, Any], namespace: str, names: set[str]) -> bool:
    ref = write["objectRef"]
    return (
        ref.get("resource") == PLURAL
        and ref.get("subresource") == "status"
        and ref.get("namespace") == namespace
        and ref.get("name") in names
        and write["verb"] in ("update", "patch")
    )


def _is_event_about(write: dict[str, Any], namespace: str, names: set[str]) -> bool:
    ref = write["objectRef"]
    if ref.get("resource") != "events" or ref.get("namespace") != namespace or write["verb"] != "create":
        return False
    involved = (write.get("requestObject") or {}).get("involvedObject") or {}
    return involved.get("kind") == "PodCertificateRequest" and involved.get("name") in names


def _describe(write: dict[str, Any]) -> str:
    ref = write["objectRef"]
    return (
        f"{write['verb']} {ref.get('apiGroup', '')}/{ref.get('resource')}/{ref.get('subresource', '')} "
        f"{ref.get('namespace', '')}/{ref.get('name', '')}"
    )

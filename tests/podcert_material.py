"""PodCertificateRequests and the Pods they name, as the kubelet would create them (shared by unit
and e2e tests)."""

import base64
import functools
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

KeyPair = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@functools.cache
def key_of(kind: str) -> KeyPair:
    """ECDSAP256, ECDSAP384, ECDSAP521, RSA2048, RSA3072, RSA4096, ED25519 (made once per run)."""
    if kind.startswith("ECDSAP"):
        curve = {"256": ec.SECP256R1(), "384": ec.SECP384R1(), "521": ec.SECP521R1()}[kind[6:]]
        return ec.generate_private_key(curve)
    if kind.startswith("RSA"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    return ed25519.Ed25519PrivateKey.generate()


def stub_request(key: KeyPair) -> bytes:
    """A DER PKCS#10 request with an empty subject, signed by `key`, as the kubelet sends it."""
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.DER)


def pcr_body(
    namespace: str = "apps",
    name: str = "req-1",
    *,
    signer: str = "issuers.certmint.dev/apps.ca",
    pod: str = "web-0",
    pod_uid: str = "uid-pod-web-0",
    service_account: str = "web",
    node: str = "node-1",
    key: str = "ECDSAP256",
    max_expiration: int | None = 86400,
    user_annotations: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    stub: bytes | None = None,
) -> dict[str, Any]:
    request = stub if stub is not None else stub_request(key_of(key))
    spec: dict[str, Any] = {
        "signerName": signer,
        "podName": pod,
        "podUID": pod_uid,
        "serviceAccountName": service_account,
        "serviceAccountUID": f"uid-sa-{service_account}",
        "nodeName": node,
        "nodeUID": f"uid-node-{node}",
        "stubPKCS10Request": base64.b64encode(request).decode(),
    }
    if max_expiration is not None:
        spec["maxExpirationSeconds"] = max_expiration
    if user_annotations:
        spec["unverifiedUserAnnotations"] = user_annotations
    return {
        "apiVersion": "certificates.k8s.io/v1beta1",
        "kind": "PodCertificateRequest",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": "1",
            "annotations": annotations or {},
        },
        "spec": spec,
        "status": {},
    }


def pod_body(
    namespace: str = "apps",
    name: str = "web-0",
    *,
    uid: str = "uid-pod-web-0",
    service_account: str = "web",
    node: str = "node-1",
    signers: tuple[str, ...] = ("issuers.certmint.dev/apps.ca",),
) -> dict[str, Any]:
    sources = [
        {"podCertificate": {"signerName": signer, "keyType": "ECDSAP256", "credentialBundlePath": "b.pem"}}
        for signer in signers
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {
            "serviceAccountName": service_account,
            "nodeName": node,
            "containers": [{"name": "app", "image": "nginx"}],
            "volumes": [{"name": "identity", "projected": {"sources": sources}}],
        },
    }

"""PodCertificateRequests (certificates.k8s.io/v1beta1) as certmint reads them, and the Pod they
name as certmint finds it.

The kubelet creates a PodCertificateRequest for a pod's `podCertificate` projected volume; anyone
with RBAC `create` on podcertificaterequests may create one too, and the API server records no
creator. So nothing in it is trusted: its spec is cross-checked against the live Pod (PodFacts),
and what is kept of it is bounded (the stub request up to pki.MAX_REQUEST_BYTES, the names of
unverified user annotations, certmint's own revoke annotations, the leaf of an issued chain)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from certmint.pki import MAX_REQUEST_BYTES
from certmint.planning import labels
from certmint.planning.signers import base64_field

API_VERSION = "certificates.k8s.io/v1beta1"
KIND = "PodCertificateRequest"
ISSUED = "Issued"
DENIED = "Denied"
FAILED = "Failed"
FINAL_CONDITIONS = (ISSUED, DENIED, FAILED)
DEFAULT_MAX_EXPIRATION_SECONDS = 86400
"""What the API server defaults spec.maxExpirationSeconds to."""
MAX_USER_ANNOTATION_KEYS = 16
"""How many keys of unverifiedUserAnnotations are kept (to name them in a denial); the count is kept too."""
REVOKE_ANNOTATIONS = (labels.REVOKE_REQUEST, labels.REVOKE_REASON, labels.REVOKE_REISSUE)
_LEAF_END = "-----END CERTIFICATE-----"


@dataclass(frozen=True)
class PodCertificateRequestObject:
    namespace: str
    name: str
    uid: str
    resource_version: str
    signer_name: str
    pod_name: str
    pod_uid: str
    service_account_name: str
    node_name: str
    max_expiration_seconds: int
    stub_request: bytes
    """spec.stubPKCS10Request (DER), decoded; empty when absent, unreadable or too large."""
    stub_request_bytes: int
    """Its size as sent: above MAX_REQUEST_BYTES the request is not kept."""
    user_annotation_keys: tuple[str, ...]
    """The first MAX_USER_ANNOTATION_KEYS keys of spec.unverifiedUserAnnotations, sorted."""
    user_annotation_count: int
    annotations: Mapping[str, str]
    """Only certmint's revoke annotations."""
    conditions: tuple[Mapping[str, Any], ...]
    issued: bool
    denied: bool
    failed: bool
    leaf_pem: bytes
    """The first certificate of status.certificateChain (what a revocation needs); empty until issued."""

    @property
    def final(self) -> bool:
        return self.issued or self.denied or self.failed

    @property
    def settled(self) -> bool:
        """Issued, denied or failed with no revocation asked for: nothing certmint would ever write."""
        return self.final and not (self.issued and self.annotations.get(labels.REVOKE_REQUEST))


def read_pod_certificate_request(body: Mapping[str, Any]) -> PodCertificateRequestObject:
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    conditions = [dict(c) for c in status.get("conditions") or () if isinstance(c, Mapping)]
    true_conditions = {c.get("type") for c in conditions if c.get("status") == "True"}
    stub_text = spec.get("stubPKCS10Request")
    # base64 of n bytes is 4*ceil(n/3) characters: judged by its length before anything is decoded.
    too_large = isinstance(stub_text, str) and len(stub_text) > (MAX_REQUEST_BYTES + 2) // 3 * 4
    stub = b"" if too_large else base64_field(stub_text)
    stub_size = len(stub_text) * 3 // 4 if too_large and isinstance(stub_text, str) else len(stub)
    user = spec.get("unverifiedUserAnnotations")
    user_keys = sorted(str(key) for key in user) if isinstance(user, Mapping) else []
    expiration = spec.get("maxExpirationSeconds")
    annotations = metadata.get("annotations") or {}
    chain = status.get("certificateChain")
    return PodCertificateRequestObject(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
        resource_version=str(metadata.get("resourceVersion") or ""),
        signer_name=str(spec.get("signerName") or ""),
        pod_name=str(spec.get("podName") or ""),
        pod_uid=str(spec.get("podUID") or ""),
        service_account_name=str(spec.get("serviceAccountName") or ""),
        node_name=str(spec.get("nodeName") or ""),
        max_expiration_seconds=expiration
        if isinstance(expiration, int) and not isinstance(expiration, bool)
        else DEFAULT_MAX_EXPIRATION_SECONDS,
        stub_request=stub,
        stub_request_bytes=stub_size,
        user_annotation_keys=tuple(user_keys[:MAX_USER_ANNOTATION_KEYS]),
        user_annotation_count=len(user_keys),
        annotations={key: str(annotations[key]) for key in REVOKE_ANNOTATIONS if key in annotations},
        conditions=tuple(conditions),
        issued=ISSUED in true_conditions,
        denied=DENIED in true_conditions,
        failed=FAILED in true_conditions,
        leaf_pem=_leaf_of(chain) if ISSUED in true_conditions and isinstance(chain, str) else b"",
    )


def _leaf_of(chain: str) -> bytes:
    end = chain.find(_LEAF_END)
    return chain[: end + len(_LEAF_END)].encode() + b"\n" if end >= 0 else b""


@dataclass(frozen=True)
class PodFacts:
    """The live Pod a request names, from a GET of pods/<podName> in the request's namespace."""

    exists: bool
    uid: str = ""
    service_account_name: str = ""
    node_name: str = ""
    signer_names: frozenset[str] = frozenset()
    """The signerName of each podCertificate projected volume source of the pod."""


def pod_facts(body: Mapping[str, Any] | None) -> PodFacts:
    """`body`: the Pod as read, None when it does not exist."""
    if body is None:
        return PodFacts(exists=False)
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    signers: set[str] = set()
    for volume in spec.get("volumes") or ():
        projected = (volume or {}).get("projected") or {}
        for source in projected.get("sources") or ():
            certificate = (source or {}).get("podCertificate")
            if isinstance(certificate, Mapping) and isinstance(certificate.get("signerName"), str):
                signers.add(certificate["signerName"])
    return PodFacts(
        exists=True,
        uid=str(metadata.get("uid") or ""),
        service_account_name=str(spec.get("serviceAccountName") or ""),
        node_name=str(spec.get("nodeName") or ""),
        signer_names=frozenset(signers),
    )

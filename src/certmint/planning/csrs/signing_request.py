"""CertificateSigningRequests addressed to certmint, as read: signer names, the request and its requester."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from certmint.pki import MAX_REQUEST_BYTES
from certmint.planning.labels import REVOKE_REQUEST
from certmint.planning.signers import ISSUER, NAMESPACE, SignerRef, base64_field

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class SigningRequestObject:
    """A CertificateSigningRequest as certmint reads it from the API."""

    name: str
    uid: str
    signer_name: str
    request: bytes
    """spec.request, decoded from base64: a PEM CSR, or garbage."""
    usages: tuple[str, ...]
    expiration_seconds: int | None
    username: str
    approved: bool
    denied: bool
    failed: bool
    certificate: bytes
    """status.certificate as PEM; empty until signed."""
    annotations: Mapping[str, str]
    request_bytes: int = 0
    """The size of spec.request; above MAX_REQUEST_BYTES (pki.csr) `request` is not kept (and is
    empty): a large request is not held in memory while it waits for approval."""
    conditions: tuple[Mapping[str, Any], ...] = ()
    """status.conditions as they are: a write of conditions sends the whole list back."""
    resource_version: str = ""

    @property
    def pending(self) -> bool:
        return not (self.approved or self.denied or self.failed)

    @property
    def settled(self) -> bool:
        """Signed, denied or failed, with no revocation asked for: nothing certmint would ever
        write, so it is neither cached nor reconciled."""
        final = bool(self.certificate) or self.denied or self.failed
        return final and revoke_request_token(self.annotations) == ""


def read_signing_request(body: Mapping[str, Any]) -> SigningRequestObject:
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    true_conditions = {
        condition.get("type")
        for condition in status.get("conditions") or []
        if condition.get("status") == "True"
    }
    expiration = spec.get("expirationSeconds")
    request = base64_field(spec.get("request"))
    return SigningRequestObject(
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        signer_name=str(spec.get("signerName", "")),
        request=request if len(request) <= MAX_REQUEST_BYTES else b"",
        request_bytes=len(request),
        usages=tuple(str(usage) for usage in spec.get("usages") or ()),
        expiration_seconds=int(expiration) if isinstance(expiration, int) else None,
        username=str(spec.get("username", "")),
        approved="Approved" in true_conditions,
        denied="Denied" in true_conditions,
        failed="Failed" in true_conditions,
        certificate=base64_field(status.get("certificate")),
        annotations=dict(metadata.get("annotations") or {}),
        conditions=tuple(dict(condition) for condition in status.get("conditions") or ()),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


def revoke_request_token(annotations: Mapping[str, str]) -> str:
    return annotations.get(REVOKE_REQUEST, "")


@dataclass(frozen=True)
class Requester:
    """Who created the CSR, as the API server recorded it."""

    username: str
    namespace: str | None = None
    service_account: str | None = None
    """Both set for a ServiceAccount; None for anyone else."""


def requester_of(username: str) -> Requester:
    if username.startswith(SERVICE_ACCOUNT_PREFIX):
        namespace, _, account = username.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        if NAMESPACE.fullmatch(namespace) and account and ":" not in account:
            return Requester(username, namespace, account)
    return Requester(username)


def acting_namespace(signer: SignerRef, username: str) -> str:
    """The namespace whose identities a CSR may obtain: an Issuer's own; for a ClusterIssuer, its
    ServiceAccount requester's, and none for anyone else."""
    if signer.kind == ISSUER:
        return signer.namespace
    return requester_of(username).namespace or ""

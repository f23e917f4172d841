"""Kubernetes CertificateSigningRequests addressed to certmint: pure decisions.

A CSR names its signer (`issuers.certmint.dev/<namespace>.<name>` or
`clusterissuers.certmint.dev/<name>`); the API server records who created it (`spec.username`,
which the requester cannot forge). Everything else in it is hostile. A CSR is judged exactly like a
Certificate (the gates of planning.gates: printable names, issuer ready, valid names, the issuer's
policy and the identity rules that hold everywhere), in the namespace its requester belongs to:

- a ServiceAccount `system:serviceaccount:<ns>:<sa>` belongs to `<ns>` and may use the Issuers of
  `<ns>` and ClusterIssuers (whose policy's namespaceSelector judges `<ns>`), never an Issuer of
  another namespace; `${serviceAccount}` in policies is `<sa>`;
- any other requester (a person) uses an Issuer in that Issuer's namespace, and a ClusterIssuer in
  no namespace at all, so it can never obtain a SPIFFE ID from a ClusterIssuer. Who may ask at all
  is Kubernetes RBAC: `approve` on the signer name decides which of its CSRs are signed.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from certmint.api import parse_duration
from certmint.api.certificate import RotationPolicy
from certmint.pki import (
    MAX_REQUEST_BYTES,
    KeyAlgorithm,
    KeyEncoding,
    PKIError,
    PublicKey,
    SigningRequest,
    Usage,
    effective_usages,
    key_spec_of,
    load_certificates_pem,
    load_csr,
)
from certmint.planning import reasons
from certmint.planning.csrs.signing_request import (
    Requester,
    SigningRequestObject,
    acting_namespace,
    requester_of,
)
from certmint.planning.gates import (
    SIGNING_REQUEST_GATES,
    Fail,
    Request,
)
from certmint.planning.issuer_view import IssuerView
from certmint.planning.request import IssuanceSpec, RevokeRequest, revoke_request, spiffe_id
from certmint.planning.signers import ISSUER, SignerRef

DEFAULT_DURATION = timedelta(hours=24)
"""When a CSR sets no expirationSeconds: the default lifetime of a Certificate."""

KUBERNETES_USAGES: Mapping[str, Usage] = {usage.value: usage for usage in Usage}
"""Kubernetes' KeyUsage strings that certmint signs; they are spelled as certmint's usages."""
WORKLOAD_USAGES = frozenset(
    {Usage.DIGITAL_SIGNATURE, Usage.KEY_ENCIPHERMENT, Usage.SERVER_AUTH, Usage.CLIENT_AUTH}
)
"""What an auto-approved workload certificate may be used for: TLS, nothing else."""


@dataclass(frozen=True)
class Sign:
    """Sign `public_key` with the issuer's CA for what `spec.leaf` describes."""

    spec: IssuanceSpec
    public_key: PublicKey


@dataclass(frozen=True)
class Verdict:
    """An approval decision, with the reason and message the Approved or Denied condition gets."""

    reason: str
    message: str


class Approve(Verdict):
    pass


class Deny(Verdict):
    pass


@dataclass(frozen=True)
class Leave:
    """Nothing for certmint to do: not yet approved, already decided, or signed."""


CSRPlan = Sign | Approve | Deny | Fail | Leave


@dataclass(frozen=True)
class Case:
    """A CSR with everything it is judged by."""

    csr: SigningRequestObject
    signer: SignerRef
    issuer: IssuerView
    trust_domain: str
    namespace_labels: Mapping[str, str]
    """Of the namespace the requester acts in (acting_namespace), for a policy's selector."""
    now: datetime


def plan_signing_request(case: Case) -> CSRPlan:
    """For an approved CSR: Sign, or Fail (retryable: the issuer is not ready yet; otherwise it
    ends Failed). For a pending one, when the issuer auto-approves workload identities: Approve,
    Deny (it could never be signed), or Leave it to a person."""
    csr, issuer = case.csr, case.issuer
    if csr.denied or csr.failed or csr.certificate:
        return Leave()
    if csr.pending and not _auto_approves(issuer):
        return Leave()
    judged = judge_request(case)
    if csr.approved:
        return judged
    if isinstance(judged, Fail):
        return judged if judged.retryable else Deny(reasons.AUTO_DENIED, f"{judged.reason}: {judged.message}")
    approval = workload_identity_approval(csr, judged.spec, issuer, case.trust_domain)
    return approval or Leave()


def _auto_approves(issuer: IssuerView) -> bool:
    auto_approval = issuer.signing.auto_approval
    return auto_approval is not None and auto_approval.workload_identity


def judge_request(case: Case) -> Sign | Fail:
    """What signing this CSR would produce, or why it must not be signed."""
    csr, signer, issuer = case.csr, case.signer, case.issuer
    if not issuer.exists:
        return Fail(reasons.ISSUER_NOT_FOUND, issuer.message, retryable=False)
    requester = requester_of(csr.username)
    if signer.kind == ISSUER and requester.namespace not in (None, signer.namespace):
        return Fail(
            reasons.REQUESTER_NOT_ALLOWED,
            f"{csr.username} belongs to namespace {requester.namespace} and may not use Issuer "
            f"{signer.namespace}/{signer.name}; use an Issuer of {requester.namespace} or a ClusterIssuer",
            retryable=False,
        )
    if csr.request_bytes > MAX_REQUEST_BYTES:
        # Not kept while it waited (read_signing_request): refused by its size alone, as load_csr would.
        return Fail(
            reasons.REQUEST_TOO_LARGE,
            f"the request is {csr.request_bytes} bytes; certmint reads requests of at most "
            f"{MAX_REQUEST_BYTES} bytes",
            retryable=False,
        )
    try:
        request = load_csr(csr.request)
    except PKIError as error:
        return Fail(error.reason, error.message, retryable=False)
    usages = _usages(csr.usages)
    if isinstance(usages, Fail):
        return usages
    spec = _issuance_spec(csr, signer, requester, request, usages, issuer, case.trust_domain)
    gated = Request(spec, issuer, case.namespace_labels, case.now)
    for gate in SIGNING_REQUEST_GATES:
        failure = gate(gated)
        if failure is not None:
            return failure
    return Sign(spec, request.public_key)


def _usages(requested: tuple[str, ...]) -> tuple[Usage, ...] | Fail:
    unknown = [usage for usage in requested if usage not in KUBERNETES_USAGES]
    if unknown:
        return Fail(
            reasons.UNSUPPORTED_USAGE,
            f"usages {', '.join(unknown)} are not signed; certmint signs {', '.join(KUBERNETES_USAGES)}",
            retryable=False,
        )
    return tuple(KUBERNETES_USAGES[usage] for usage in requested)


def _issuance_spec(
    csr: SigningRequestObject,
    signer: SignerRef,
    requester: Requester,
    request: SigningRequest,
    usages: tuple[Usage, ...],
    issuer: IssuerView,
    trust_domain: str,
) -> IssuanceSpec:
    """The CSR as the Certificate it amounts to, in the namespace its requester acts in."""
    namespace = acting_namespace(signer, requester.username)
    service_account = requester.service_account if requester.namespace == namespace else None
    leaf = replace(
        request.names.leaf(),
        duration=signing_duration(csr.expiration_seconds, issuer),
        usages=usages,
        is_ca=request.asks_ca,
    )
    return IssuanceSpec(
        leaf=leaf,
        key=key_spec_of(request.public_key),
        key_encoding=KeyEncoding.PKCS8,
        rotation_policy=RotationPolicy.ALWAYS,
        pkcs12=None,
        output_formats=frozenset(),
        renew_before=None,
        renew_before_percentage=None,
        digest="",
        renew_request="",
        namespace=namespace,
        service_account=service_account,
        duration_text=f"{int(leaf.duration.total_seconds())}s",
        trust_domain=trust_domain,
    )


def signing_duration(expiration_seconds: int | None, issuer: IssuerView) -> timedelta:
    """expirationSeconds (24h when unset), capped by the policy's maxDuration; signing caps it at
    the CA's own end too."""
    requested = timedelta(seconds=expiration_seconds) if expiration_seconds else DEFAULT_DURATION
    policy = issuer.signing.policy
    if policy is not None and policy.max_duration is not None:
        return min(requested, parse_duration(policy.max_duration))
    return requested


def workload_identity_approval(
    csr: SigningRequestObject, spec: IssuanceSpec, issuer: IssuerView, trust_domain: str
) -> Approve | None:
    """A ServiceAccount asking for exactly its own SPIFFE ID, for TLS usages only (and, where the
    issuer allows it, names its policy admits): approved. Anything else is a person's call."""
    requester = requester_of(csr.username)
    if requester.namespace is None or requester.service_account is None:
        return None
    if spec.service_account != requester.service_account or spec.namespace != requester.namespace:
        return None
    own = spiffe_id(trust_domain, requester.namespace, requester.service_account)
    leaf = spec.leaf
    if leaf.uris != (own,) or leaf.is_ca:
        return None
    rsa_key = spec.key.algorithm == KeyAlgorithm.RSA
    if not set(effective_usages(leaf, rsa_key=rsa_key)) <= WORKLOAD_USAGES:
        return None
    policy_names = issuer.signing.auto_approval is not None and issuer.signing.auto_approval.policy_names
    others = leaf.common_name or leaf.organization or leaf.dns_names or leaf.ip_addresses
    if (others or leaf.email_addresses) and not (policy_names and issuer.signing.policy is not None):
        return None
    extra = " and names its policy allows" if others or leaf.email_addresses else ""
    return Approve(
        reasons.AUTO_APPROVED,
        f"{csr.username} asked for its own workload identity {own}{extra}",
    )


def revocation_due(
    csr: SigningRequestObject, issuer: IssuerView, now: datetime
) -> tuple[x509.Certificate, RevokeRequest] | None:
    """A revoke annotation on a signed CSR whose certificate is not yet on the issuer's list (and
    has not expired: an expired one would leave the list at once). Raises ValueError for an
    unknown revocation reason."""
    request = revoke_request(csr.annotations)
    if request is None or not csr.certificate:
        return None
    try:
        leaf = load_certificates_pem(csr.certificate)[0]
    except PKIError:
        return None
    if leaf.serial_number in issuer.revoking.revoked_serials or leaf.not_valid_after_utc <= now:
        return None
    return leaf, request


def with_condition(
    conditions: list[dict[str, Any]], kind: str, reason: str, message: str, now: datetime
) -> list[dict[str, Any]]:
    """The CSR's conditions with one more (a merge patch writes the whole list, and the API server
    refuses to drop Approved or Denied through the status subresource)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    added = {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message[:1024],
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
    }
    return [*(condition for condition in conditions if condition.get("type") != kind), added]

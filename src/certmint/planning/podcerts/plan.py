"""Judging a PodCertificateRequest: an ordered chain of named checks, the first that objects decides.

The cheap checks (CHEAP_CHECKS: signer name, issuer, opt-in, namespace rule, user annotations) need
nothing but the request and the issuer, so the operator reads the Pod only for a request that
passed them. The rest (CHECKS) cross-check the live Pod, parse the stub PKCS#10 request, judge the
key type and pass the gates of planning.gates exactly as a CSR does. Identity comes from the pod
only: the SPIFFE ID of its namespace and service account, DNS names from the issuer's templates.
"""

import base64
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certmint.api import parse_duration
from certmint.api.certificate import RotationPolicy
from certmint.pki import (
    MAX_REQUEST_BYTES,
    KeyEncoding,
    LeafRequest,
    PKIError,
    PublicKey,
    key_spec_of,
    load_csr,
)
from certmint.planning import reasons
from certmint.planning.gates import (
    SIGNING_REQUEST_GATES,
    Request,
)
from certmint.planning.gates import (
    Fail as GateFail,
)
from certmint.planning.issuer_view import IssuerView
from certmint.planning.jitter import jitter
from certmint.planning.podcerts.request import PodCertificateRequestObject, PodFacts
from certmint.planning.request import IssuanceSpec, spiffe_id
from certmint.planning.signers import ISSUER, SignerRef, parse_signer_name

MIN_LIFETIME = timedelta(hours=1)
"""The API server refuses an issued pod certificate that lives less than this."""
BACKDATE = timedelta(minutes=4)
"""notBefore = now - BACKDATE: the API server accepts a notBefore within 5 minutes of its clock."""
REFRESH_MARGIN = timedelta(minutes=10, seconds=1)
"""beginRefreshAt lies at least this after notBefore and before notAfter (the API server: 10 min)."""
DEFAULT_RENEW_FRACTION = 1 / 3
"""Unset renewBeforePercentage: refresh as a Certificate of that lifetime renews, a third before its end."""

SUPPORTED_KEY_TYPES = "ECDSAP256, ECDSAP384, RSA3072, RSA4096, ED25519"
_RSA_SIZES = frozenset({3072, 4096})
_CURVES = frozenset({"secp256r1", "secp384r1"})


@dataclass(frozen=True)
class Issue:
    """Sign `public_key` for `leaf`, valid exactly from `not_before` to `not_after`."""

    leaf: LeafRequest
    public_key: PublicKey
    not_before: datetime
    not_after: datetime
    begin_refresh_at: datetime


@dataclass(frozen=True)
class Verdict:
    reason: str
    message: str


class Deny(Verdict):
    """The signer refuses: the request could never be signed as it is."""


class Fail(Verdict):
    """The signer cannot sign it (the lifetime left is too short, the stub request is unusable)."""


@dataclass(frozen=True)
class Retry:
    """Not yet (the issuer is not ready): look again with backoff, write nothing."""

    reason: str
    message: str


@dataclass(frozen=True)
class Leave:
    """Already issued, denied or failed: nothing to write."""


Decision = Issue | Deny | Fail | Retry | Leave


@dataclass(frozen=True)
class Case:
    """A PodCertificateRequest with everything it is judged by. `pod` is None until the cheap
    checks passed and the operator read the Pod."""

    pcr: PodCertificateRequestObject
    issuer: IssuerView
    trust_domain: str
    namespace_labels: Mapping[str, str]
    now: datetime
    pod: PodFacts | None = None

    @cached_property
    def signer(self) -> SignerRef | GateFail:
        return parse_signer_name(self.pcr.signer_name)

    @cached_property
    def stub(self) -> x509.CertificateSigningRequest | None:
        try:
            return x509.load_der_x509_csr(self.pcr.stub_request)
        except ValueError:
            return None


Check = Callable[[Case], Deny | Fail | Retry | None]


def signer_parses(case: Case) -> Deny | None:
    signer = case.signer
    return Deny(signer.reason, signer.message) if isinstance(signer, GateFail) else None


def issuer_exists(case: Case) -> Deny | None:
    return None if case.issuer.exists else Deny(reasons.ISSUER_NOT_FOUND, case.issuer.message)


def issuer_usable(case: Case) -> Retry | None:
    """Before the opt-in is judged: an issuer that is not ready yet has no view of its spec."""
    issuer = case.issuer
    if issuer.ready and issuer.signing.ca is not None:
        return None
    return Retry(reasons.ISSUER_NOT_READY, f"issuer is not ready: {issuer.reason}: {issuer.message}")


def issuer_opted_in(case: Case) -> Deny | None:
    if case.issuer.signing.pod_certificates is not None:
        return None
    signer = case.signer
    assert isinstance(signer, SignerRef)
    where = (
        f"Issuer {signer.namespace}/{signer.name}"
        if signer.kind == ISSUER
        else f"ClusterIssuer {signer.name}"
    )
    return Deny(
        reasons.POD_CERTIFICATES_NOT_ENABLED,
        f"{where} does not sign pod certificates; set spec.podCertificates: {{}} on {where}",
    )


def namespace_allowed(case: Case) -> Deny | None:
    """An Issuer signs only for pods of its own namespace; a ClusterIssuer's policy judges the
    namespace (its namespaceSelector, in the gates)."""
    signer = case.signer
    assert isinstance(signer, SignerRef)
    if signer.kind != ISSUER or case.pcr.namespace == signer.namespace:
        return None
    return Deny(
        reasons.REQUESTER_NOT_ALLOWED,
        f"a pod of namespace {case.pcr.namespace} may not use Issuer {signer.namespace}/{signer.name}; "
        f"use an Issuer of {case.pcr.namespace} or a ClusterIssuer",
    )


def no_unknown_user_annotations(case: Case) -> Deny | None:
    pcr = case.pcr
    if not pcr.user_annotation_count:
        return None
    keys = ", ".join(pcr.user_annotation_keys)
    more = pcr.user_annotation_count - len(pcr.user_annotation_keys)
    keys += f" and {more} more" if more > 0 else ""
    return Deny(
        reasons.UNKNOWN_USER_ANNOTATION,
        f"unverifiedUserAnnotations {keys}: certmint knows no user annotation; remove them",
    )


def pod_matches(case: Case) -> Deny | None:
    pcr, pod = case.pcr, case.pod
    if pod is None or not pod.exists:
        return Deny(reasons.POD_MISMATCH, f"pod {pcr.namespace}/{pcr.pod_name} does not exist")
    for field, asked, actual in (
        ("podUID", pcr.pod_uid, pod.uid),
        ("serviceAccountName", pcr.service_account_name, pod.service_account_name),
        ("nodeName", pcr.node_name, pod.node_name),
    ):
        if asked != actual:
            return Deny(
                reasons.POD_MISMATCH,
                f"spec.{field} {asked!r} is not the pod's ({actual!r}) of pod {pcr.namespace}/{pcr.pod_name}",
            )
    if pcr.signer_name not in pod.signer_names:
        return Deny(
            reasons.POD_MISMATCH,
            f"pod {pcr.namespace}/{pcr.pod_name} has no podCertificate volume source for signer "
            f"{pcr.signer_name}",
        )
    return None


def stub_parses(case: Case) -> Fail | None:
    pcr = case.pcr
    if pcr.stub_request_bytes > MAX_REQUEST_BYTES:
        return Fail(
            reasons.REQUEST_TOO_LARGE,
            f"stubPKCS10Request is {pcr.stub_request_bytes} bytes; certmint reads requests of at most "
            f"{MAX_REQUEST_BYTES} bytes",
        )
    if case.stub is None:
        return Fail(reasons.INVALID_REQUEST, "spec.stubPKCS10Request is missing or not a DER PKCS#10 request")
    return None


def key_type_supported(case: Case) -> Deny | None:
    stub = case.stub
    assert stub is not None
    try:
        key = stub.public_key()
    except (ValueError, TypeError):
        key = None
    supported = (
        (isinstance(key, rsa.RSAPublicKey) and key.key_size in _RSA_SIZES)
        or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES)
        or isinstance(key, ed25519.Ed25519PublicKey)
    )
    if supported:
        return None
    return Deny(
        reasons.UNSUPPORTED_KEY_TYPE,
        f"{_key_name(key)} keys are not signed; certmint signs {SUPPORTED_KEY_TYPES}",
    )


def _key_name(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    return type(key).__name__ if key is not None else "unreadable"


def stub_verifies(case: Case) -> Fail | None:
    """pki.load_csr checks the signature once more (the API server did) and certmint's key rules."""
    try:
        load_csr(_pem(case.pcr.stub_request))
    except PKIError as error:
        return Fail(error.reason, error.message)
    return None


CHEAP_CHECKS: tuple[Check, ...] = (
    signer_parses,
    issuer_exists,
    issuer_usable,
    issuer_opted_in,
    namespace_allowed,
    no_unknown_user_annotations,
)
CHECKS: tuple[Check, ...] = (*CHEAP_CHECKS, pod_matches, stub_parses, key_type_supported, stub_verifies)


def cheap_verdict(case: Case) -> Deny | Fail | Retry | Leave | None:
    """What the checks that need no Pod decide, or None: then the Pod is read and `judge` decides."""
    if case.pcr.final:
        return Leave()
    for check in CHEAP_CHECKS:
        verdict = check(case)
        if verdict is not None:
            return verdict
    return None


def judge(case: Case) -> Decision:
    if case.pcr.final:
        return Leave()
    for check in CHECKS:
        verdict = check(case)
        if verdict is not None:
            return verdict
    stub = case.stub
    assert stub is not None
    public_key: PublicKey = stub.public_key()  # type: ignore[assignment]
    validity = validity_of(case)
    if isinstance(validity, Fail):
        return validity
    not_before, not_after = validity
    spec = issuance_spec(case, public_key, not_after - not_before)
    gated = Request(spec, case.issuer, case.namespace_labels, case.now)
    for gate in SIGNING_REQUEST_GATES:
        failure = gate(gated)
        if failure is not None:
            if failure.retryable:
                return Retry(failure.reason, failure.message)
            return Deny(failure.reason, failure.message)
    refresh = begin_refresh_at(not_before, not_after, _percentage(case.issuer), case.pcr.uid)
    return Issue(spec.leaf, public_key, not_before, not_after, refresh)


def _percentage(issuer: IssuerView) -> int | None:
    pods = issuer.signing.pod_certificates
    return pods.renew_before_percentage if pods is not None else None


def validity_of(case: Case) -> tuple[datetime, datetime] | Fail:
    """notBefore = now - 4 min (never before the CA's own), whole seconds; the lifetime is the least
    of maxExpirationSeconds, podCertificates.maxDuration, the policy's maxDuration and what is left of
    the CA; under an hour it Fails (the API server would refuse it)."""
    issuer = case.issuer
    ca = issuer.signing.ca
    assert ca is not None
    not_before = max(case.now - BACKDATE, ca.certificate.not_valid_before_utc).replace(microsecond=0)
    ca_end = ca.certificate.not_valid_after_utc.replace(microsecond=0)
    limits = [timedelta(seconds=case.pcr.max_expiration_seconds)]
    pods = issuer.signing.pod_certificates
    if pods is not None:
        limits.append(parse_duration(pods.max_duration))
    policy = issuer.signing.policy
    policy_limit = parse_duration(policy.max_duration) if policy is not None and policy.max_duration else None
    if policy_limit is not None:
        limits.append(policy_limit)
    lifetime = min(limits)
    if policy_limit is not None and policy_limit < MIN_LIFETIME:
        return Fail(
            reasons.POD_CERTIFICATE_TOO_SHORT,
            f"the issuer's policy.maxDuration {policy.max_duration if policy else ''} is under the hour "
            "a pod certificate must live",
        )
    if ca_end - not_before < MIN_LIFETIME:
        return Fail(
            reasons.POD_CERTIFICATE_TOO_SHORT,
            f"the issuer's CA ends at {ca_end:%Y-%m-%dT%H:%M:%SZ}, within the hour a pod certificate "
            "must live",
        )
    lifetime = min(lifetime, ca_end - not_before)
    lifetime = timedelta(seconds=int(lifetime.total_seconds()))
    return not_before, not_before + lifetime


def begin_refresh_at(
    not_before: datetime, not_after: datetime, renew_before_percentage: int | None, seed: str
) -> datetime:
    """notAfter - renewBefore: renewBeforePercentage of the lifetime, or, unset, a third of it plus
    the jitter a Certificate of that lifetime gets (seeded by the request's uid); within
    [notBefore + 10m1s, notAfter - 10m1s], in whole seconds."""
    lifetime = not_after - not_before
    if renew_before_percentage is not None:
        renew_before = lifetime * renew_before_percentage / 100
    else:
        renew_before = lifetime * DEFAULT_RENEW_FRACTION + jitter(lifetime, seed)
    refresh = (not_after - renew_before).replace(microsecond=0)
    return min(max(refresh, not_before + REFRESH_MARGIN), not_after - REFRESH_MARGIN)


def issuance_spec(case: Case, public_key: PublicKey, lifetime: timedelta) -> IssuanceSpec:
    """The pod's identity as the Certificate it amounts to: its SPIFFE ID and the issuer's templated
    DNS names; nothing from the request but which pod it is."""
    pcr = case.pcr
    pods = case.issuer.signing.pod_certificates
    templates = pods.dns_name_templates if pods is not None else []
    values = {
        "${serviceAccount}": pcr.service_account_name,
        "${namespace}": pcr.namespace,
        "${podName}": pcr.pod_name,
    }
    dns_names = tuple(dict.fromkeys(_fill(template, values) for template in templates))
    leaf = LeafRequest(
        dns_names=dns_names,
        uris=(spiffe_id(case.trust_domain, pcr.namespace, pcr.service_account_name),),
        duration=lifetime,
    )
    return IssuanceSpec(
        leaf=leaf,
        key=key_spec_of(public_key),
        key_encoding=KeyEncoding.PKCS8,
        rotation_policy=RotationPolicy.ALWAYS,
        pkcs12=None,
        output_formats=frozenset(),
        renew_before=None,
        renew_before_percentage=None,
        digest="",
        renew_request="",
        namespace=pcr.namespace,
        service_account=pcr.service_account_name,
        duration_text=f"{int(lifetime.total_seconds())}s",
        trust_domain=case.trust_domain,
    )


def _fill(template: str, values: Mapping[str, str]) -> str:
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template


def _pem(der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n".encode()

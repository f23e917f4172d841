"""The ordered chain of checks that decides whether a Certificate needs a new certificate.

Like cert-manager's trigger policies, but as one pure function: the first check that fires says
why (its reason becomes the condition reason and the event), and when none fires the plan says
when to look again.
"""

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from certmint.api.issuer import AutoApproval, IssuancePolicy
from certmint.pki import (
    CertificateAuthority,
    KeySpec,
    LeafRequest,
    PKIError,
    alt_names,
    key_type,
    serial_hex,
    validate_leaf_request,
)
from certmint.planning import labels, reasons
from certmint.planning.constraints import constraint_denial
from certmint.planning.contest import Contest, contest
from certmint.planning.identity import control_character_field
from certmint.planning.ocsp import OCSPResponder
from certmint.planning.ownership import Refusal
from certmint.planning.policy import policy_denial
from certmint.planning.renewal import renewal_time, spread
from certmint.planning.request import IssuanceSpec
from certmint.planning.revocation import RevokeRequest
from certmint.planning.secret import output_keys
from certmint.planning.secret_view import SecretView, Unusable


@dataclass(frozen=True)
class IssuerView:
    """What the Certificate side needs to know about its Issuer."""

    exists: bool
    ready: bool
    reason: str
    message: str
    ca: CertificateAuthority | None = None
    trust: tuple[x509.Certificate, ...] = ()
    """Every CA certificate peers must trust for this issuer: during a rotation, more than one."""
    previous: x509.Certificate | None = None
    """After a CA rotation: the CA that signed until `activated_at`, still trusted for a while."""
    activated_at: datetime | None = None
    reissue_window: timedelta = timedelta(0)
    """Certificates of the previous CA are re-issued spread over this window after activation."""
    policy: IssuancePolicy | None = None
    revoked_serials: frozenset[int] = frozenset()
    crl_pem: bytes = b""
    """A CRL for every CA in `trust` that certmint holds the key of."""
    crl_der: bytes = b""
    """The signing CA's CRL, as served over HTTP."""
    crl_distribution_point: str | None = None
    allow_ca: bool = False
    """The issuer's spec.allowCA: whether it signs CA certificates at all."""
    ocsp: OCSPResponder | None = None
    """Answers OCSP requests for every CA of `crl_pem`; None unless the issuer sets an OCSP URL."""
    ocsp_url: str | None = None
    auto_approval: AutoApproval | None = None
    """What CertificateSigningRequests for this issuer certmint approves by itself."""


def with_issuer_pointers(leaf: LeafRequest, issuer: IssuerView) -> LeafRequest:
    """Where peers find out about revocation: the issuer's CRL distribution point and OCSP URL."""
    if issuer.crl_distribution_point:
        leaf = replace(leaf, crl_distribution_points=(issuer.crl_distribution_point,))
    if issuer.ocsp_url:
        leaf = replace(leaf, ocsp_urls=(issuer.ocsp_url,))
    return leaf


@dataclass(frozen=True)
class CurrentCertificate:
    """The certificate a healthy Secret holds, and what is known of its key."""

    certificate: x509.Certificate
    key_spec: KeySpec
    key_matches: bool


@dataclass(frozen=True)
class Issue:
    reason: str
    message: str


@dataclass(frozen=True)
class Fail:
    reason: str
    message: str
    retryable: bool
    """False when only a change of the Certificate itself can help."""


@dataclass(frozen=True)
class Wait:
    current: CurrentCertificate
    renewal_time: datetime


@dataclass(frozen=True)
class Revoke:
    """Put the current certificate on the issuer's CRL, then plan again."""

    certificate: x509.Certificate
    request: RevokeRequest


Plan = Issue | Fail | Wait | Revoke


@dataclass(frozen=True)
class Request:
    """Everything the gates look at before any Secret is read."""

    spec: IssuanceSpec
    issuer: IssuerView
    secret_name: str
    secret_owner_conflict: str | None
    secret_refusal: Refusal | None
    namespace_labels: Mapping[str, str]
    now: datetime


Gate = Callable[[Request], Fail | None]


def names_printable(request: Request) -> Fail | None:
    control = control_character_field(request.spec)
    return None if control is None else Fail(reasons.INVALID_SPEC, control, retryable=False)


def issuer_exists(request: Request) -> Fail | None:
    if request.issuer.exists:
        return None
    return Fail(reasons.ISSUER_NOT_FOUND, request.issuer.message, retryable=True)


def issuer_ready(request: Request) -> Fail | None:
    issuer = request.issuer
    if issuer.ready and issuer.ca is not None:
        return None
    return Fail(
        reasons.ISSUER_NOT_READY, f"issuer is not ready: {issuer.reason}: {issuer.message}", retryable=True
    )


def request_valid(request: Request) -> Fail | None:
    try:
        validate_leaf_request(request.spec.leaf)
    except PKIError as error:
        return Fail(error.reason, error.message, retryable=False)
    return None


def policy_allows(request: Request) -> Fail | None:
    issuer = request.issuer
    denial = policy_denial(issuer.policy, request.spec, request.namespace_labels, issuer.allow_ca)
    return None if denial is None else Fail(reasons.POLICY_DENIED, denial, retryable=False)


def within_name_constraints(request: Request) -> Fail | None:
    """The names must lie inside the name constraints of the issuer's CA and every CA above it."""
    ca = request.issuer.ca
    if ca is None:
        return None
    denial = constraint_denial(ca, request.spec.leaf)
    return None if denial is None else Fail(reasons.OUTSIDE_NAME_CONSTRAINTS, denial, retryable=False)


def duration_within_issuer(request: Request) -> Fail | None:
    ca = request.issuer.ca
    if ca is None:
        return None
    requested_end = request.now + request.spec.leaf.duration
    ca_end = ca.certificate.not_valid_after_utc
    if requested_end <= ca_end:
        return None
    return Fail(
        reasons.DURATION_EXCEEDS_ISSUER,
        f"duration {request.spec.leaf.duration} ends at {requested_end:%Y-%m-%dT%H:%M:%SZ}, after the "
        f"issuer CA expires at {ca_end:%Y-%m-%dT%H:%M:%SZ}",
        retryable=True,
    )


def secret_not_claimed(request: Request) -> Fail | None:
    if request.secret_owner_conflict is None:
        return None
    return Fail(
        reasons.SECRET_CONFLICT,
        f"Secret {request.secret_name} is already managed by Certificate "
        f"{request.secret_owner_conflict}; choose another secretName",
        retryable=False,
    )


def secret_is_ours(request: Request) -> Fail | None:
    """Retried with backoff: an adoption annotation on a Secret certmint does not watch is
    noticed that way."""
    refusal = request.secret_refusal
    return None if refusal is None else Fail(refusal.reason, refusal.message, retryable=True)


GATES: tuple[Gate, ...] = (
    names_printable,
    issuer_exists,
    issuer_ready,
    request_valid,
    policy_allows,
    within_name_constraints,
    duration_within_issuer,
    secret_not_claimed,
    secret_is_ours,
)
"""In order: the first that fails decides the Certificate's Ready=False reason; nothing is signed."""


class SignedBy(Enum):
    CURRENT = "current"
    PREVIOUS = "previous"
    """The CA a rotation just replaced, still trusted during the overlap."""
    OTHER = "other"


@dataclass(frozen=True)
class Facts:
    """A healthy-looking Secret, and what the triggers need to judge it."""

    current: CurrentCertificate
    spec: IssuanceSpec
    issuer: IssuerView
    secret: SecretView
    now: datetime
    signed_by: SignedBy
    renew_at: datetime
    reissue_at: datetime | None
    """During a CA rotation overlap: this certificate's point in the spread re-issue window."""


Trigger = Callable[[Facts], Plan | None]


def key_mismatch(facts: Facts) -> Issue | None:
    if facts.current.key_matches:
        return None
    return Issue(reasons.KEY_DOES_NOT_MATCH, "tls.key does not match the public key in tls.crt")


def issuer_changed(facts: Facts) -> Issue | None:
    if facts.signed_by != SignedBy.OTHER:
        return None
    return Issue(reasons.ISSUER_CHANGED, "tls.crt was not signed by the issuer's current CA")


def revocation(facts: Facts) -> Plan | None:
    """A revoke request not yet served revokes; a revoked certificate is replaced, unless the
    request said not to re-issue."""
    cert, spec, secret = facts.current.certificate, facts.spec, facts.secret
    request = spec.revoke
    if request is not None and secret.annotations.get(labels.REVOKE_REQUEST) != request.token:
        return Revoke(cert, request)
    if cert.serial_number not in facts.issuer.revoked_serials:
        return None
    serial = serial_hex(cert.serial_number)
    if request is None or request.reissue or _renewal_requested(facts):
        return Issue(reasons.REVOKED, f"certificate serial {serial} was revoked")
    return Fail(
        reasons.REVOKED,
        f"certificate serial {serial} was revoked and {labels.REVOKE_REISSUE} is false; remove that "
        "annotation or run `certmint renew` to issue a new one",
        retryable=False,
    )


def ca_rotated(facts: Facts) -> Issue | None:
    """Signed by the CA that rotation just replaced: still trusted, so re-issued spread over the
    window instead of all certificates of the issuer in the same second."""
    if facts.reissue_at is None or facts.now < facts.reissue_at:
        return None
    return Issue(reasons.CA_ROTATED, "tls.crt was signed by the previous CA of a rotated issuer")


def spec_changed(facts: Facts) -> Issue | None:
    if facts.secret.annotations.get(labels.SPEC_DIGEST) == facts.spec.digest:
        return None
    return Issue(reasons.SPEC_CHANGED, "the Certificate spec changed since the certificate was issued")


def renew_requested(facts: Facts) -> Issue | None:
    if not _renewal_requested(facts):
        return None
    return Issue(reasons.RENEW_REQUESTED, f"renewal requested ({facts.spec.renew_request})")


def content_changed(facts: Facts) -> Issue | None:
    """Catches a tls.crt replaced by another valid certificate of the same CA and key."""
    mismatch = _content_mismatch(facts.current, facts.spec)
    return Issue(reasons.SPEC_CHANGED, mismatch) if mismatch else None


def secret_incomplete(facts: Facts) -> Issue | None:
    missing = [key for key in output_keys(facts.spec) if key not in facts.secret.present_keys]
    return Issue(reasons.SECRET_INCOMPLETE, f"Secret lacks {', '.join(missing)}") if missing else None


def expired(facts: Facts) -> Issue | None:
    not_after = facts.current.certificate.not_valid_after_utc
    if facts.now < not_after:
        return None
    return Issue(reasons.EXPIRED, f"certificate expired at {not_after:%Y-%m-%dT%H:%M:%SZ}")


def renewal_due(facts: Facts) -> Issue | None:
    if facts.now < facts.renew_at:
        return None
    return Issue(reasons.RENEWING, f"renewal time {facts.renew_at:%Y-%m-%dT%H:%M:%SZ} reached")


TRIGGERS: tuple[Trigger, ...] = (
    key_mismatch,
    issuer_changed,
    revocation,
    ca_rotated,
    spec_changed,
    renew_requested,
    content_changed,
    secret_incomplete,
    expired,
    renewal_due,
)
"""In order: the first that fires says why a certificate is (re-)issued (or revoked); when none
fires, the Certificate waits until its renewal time or its CA-rotation re-issue point, whichever
comes first. A leaf whose renewal falls between CA activation and its re-issue point is renewed
(Renewing) by the new CA; one whose re-issue point comes first is re-issued (CARotated)."""


def plan_certificate(
    spec: IssuanceSpec,
    issuer: IssuerView,
    secret: SecretView | None,
    secret_owner_conflict: str | None,
    now: datetime,
    seed: str,
    namespace_labels: Mapping[str, str] | None = None,
    secret_refusal: Refusal | None = None,
) -> Plan:
    """`secret_owner_conflict` names another Certificate that already owns the Secret, if any;
    `namespace_labels` are the labels of the Certificate's namespace, for the issuer's policy;
    `secret_refusal` says why the Secret is not this Certificate's to write (planning.ownership)."""
    request = Request(
        spec,
        issuer,
        secret.name if secret else "",
        secret_owner_conflict,
        secret_refusal,
        namespace_labels or {},
        now,
    )
    for gate in GATES:
        failure = gate(request)
        if failure is not None:
            return failure
    if issuer.ca is None:  # issuer_ready fails first
        raise AssertionError("planning without a CA")
    if secret is None:
        return Issue(reasons.SECRET_MISSING, "Secret does not exist")
    current = parse_secret(secret)
    if isinstance(current, Issue):
        return current
    facts = judge(current, spec, issuer, issuer.ca, secret, now, seed)
    for trigger in TRIGGERS:
        plan = trigger(facts)
        if plan is not None:
            return plan
    wake_at = min(facts.renew_at, facts.reissue_at) if facts.reissue_at else facts.renew_at
    return Wait(current=current, renewal_time=wake_at)


DELIBERATE_REASONS = frozenset(
    {
        reasons.RENEW_REQUESTED,
        reasons.REVOKED,
        reasons.CA_ROTATED,
        reasons.RENEWING,
        reasons.EXPIRED,
        reasons.SECRET_MISSING,
    }
)
"""Issuances someone asked for, or that are due: served at once, never held back as a contest."""


def contested_repair(
    plan: Plan, spec: IssuanceSpec, secret: SecretView | None, now: datetime
) -> Contest | None:
    """When the planned issuance repairs a change another writer made to the Secret: the contest,
    whose `due` says when the repair may be written (planning.contest). A changed spec is the
    user's deliberate change, served at once."""
    if not isinstance(plan, Issue) or secret is None or plan.reason in DELIBERATE_REASONS:
        return None
    if secret.annotations.get(labels.SPEC_DIGEST) != spec.digest:
        return None
    return contest(secret.writers, output_keys(spec), secret.annotations, now)


def judge(
    current: CurrentCertificate,
    spec: IssuanceSpec,
    issuer: IssuerView,
    ca: CertificateAuthority,
    secret: SecretView,
    now: datetime,
    seed: str,
) -> Facts:
    cert = current.certificate
    if _issued_by(cert, ca.certificate):
        signed_by = SignedBy.CURRENT
    elif issuer.previous is not None and issuer.activated_at and _issued_by(cert, issuer.previous):
        signed_by = SignedBy.PREVIOUS
    else:
        signed_by = SignedBy.OTHER
    reissue_at = (
        issuer.activated_at + issuer.reissue_window * spread(seed)
        if signed_by == SignedBy.PREVIOUS and issuer.activated_at is not None
        else None
    )
    renew_at = renewal_time(
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        spec.renew_before,
        spec.renew_before_percentage,
        seed,
        spec.leaf.duration,
    )
    return Facts(current, spec, issuer, secret, now, signed_by, renew_at, reissue_at)


def parse_secret(secret: SecretView) -> CurrentCertificate | Issue:
    contents = secret.contents
    if isinstance(contents, Unusable):
        return Issue(contents.reason, contents.message)
    return CurrentCertificate(
        certificate=x509.load_der_x509_certificate(contents.certificate_der),
        key_spec=contents.key_spec,
        key_matches=contents.key_matches,
    )


def _renewal_requested(facts: Facts) -> bool:
    token = facts.spec.renew_request
    return bool(token) and facts.secret.annotations.get(labels.RENEW_REQUEST) != token


def _ip_set(addresses: tuple[str, ...]) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {ipaddress.ip_address(address) for address in addresses}


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _content_mismatch(current: CurrentCertificate, spec: IssuanceSpec) -> str:
    summary = alt_names(current.certificate)
    leaf = spec.leaf
    if sorted(summary.dns_names) != sorted(leaf.dns_names):
        return f"tls.crt DNS names {list(summary.dns_names)} differ from the spec {list(leaf.dns_names)}"
    if sorted(summary.uris) != sorted(leaf.uris):
        return f"tls.crt URIs {list(summary.uris)} differ from the spec {list(leaf.uris)}"
    if _ip_set(summary.ip_addresses) != _ip_set(leaf.ip_addresses):
        return f"tls.crt IP addresses {list(summary.ip_addresses)} differ from the spec"
    if sorted(summary.email_addresses) != sorted(leaf.email_addresses):
        return "tls.crt email addresses differ from the spec"
    if current.key_spec != spec.key:
        return (
            f"key is {key_type(current.certificate)}, the spec asks for {spec.key.algorithm} {spec.key.size}"
        )
    return ""

"""Decide, then do, for a PodCertificateRequest: everything the operator signs, writes and reports
for one, decided at once before anything is written.

plan_actions judges the request (planning.podcerts.plan) and completes the decision: the
revocation an annotation asks for, what to sign (the issuer's CRL and OCSP pointers included, an
exact validity, the serial the caller drew), the status to write and the event to report.
operator/podcerts executes it and never comes back here."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from certmint.pki import (
    CertificateAuthority,
    LeafRequest,
    PKIError,
    PublicKey,
    load_certificates_pem,
    serial_hex,
)
from certmint.planning import reasons
from certmint.planning.events import Event
from certmint.planning.issuer_view import IssuerView, with_issuer_pointers
from certmint.planning.podcerts.plan import Case, Deny, Fail, Issue, Retry, judge
from certmint.planning.podcerts.request import DENIED, FAILED, ISSUED, PodCertificateRequestObject
from certmint.planning.request import RevokeRequest, revoke_request

MAX_MESSAGE = 32 * 1024
"""metav1.Condition allows a message of 32768 bytes."""


@dataclass(frozen=True)
class RecordRevocation:
    """Put the issued certificate on the issuer's list (the issuer then signs new CRLs)."""

    certificate: x509.Certificate
    request: RevokeRequest
    event: Event


@dataclass(frozen=True)
class SignAndIssue:
    """Sign `leaf` for `public_key` with `ca`, valid exactly from not_before to not_after, and write
    the Issued status (issued_status)."""

    leaf: LeafRequest
    public_key: PublicKey
    ca: CertificateAuthority
    serial_number: int
    not_before: datetime
    not_after: datetime
    begin_refresh_at: datetime
    event: Event


@dataclass(frozen=True)
class WriteStatus:
    """Denied or Failed: the status holds that one condition and nothing else."""

    status: dict[str, Any]
    event: Event


@dataclass(frozen=True)
class RetryLater:
    """The issuer is not ready yet: look again with backoff; nothing is written."""

    reason: str
    message: str


@dataclass(frozen=True)
class Nothing:
    pass


@dataclass(frozen=True)
class PCRActions:
    revocation: RecordRevocation | Event | None
    """What a revoke annotation asks for: a revocation, or the Warning an unknown reason gets."""
    then: SignAndIssue | WriteStatus | RetryLater | Nothing


def plan_actions(case: Case, serial_number: int) -> PCRActions:
    """`serial_number`: the serial a new certificate gets, drawn by the caller as `case.now` is."""
    decision = judge(case)
    then: SignAndIssue | WriteStatus | RetryLater | Nothing
    if isinstance(decision, Issue):
        then = signing(decision, case, serial_number)
    elif isinstance(decision, Deny | Fail):
        then = refusal(decision, case.now)
    elif isinstance(decision, Retry):
        then = RetryLater(decision.reason, decision.message)
    else:
        then = Nothing()
    return PCRActions(_revocation(case.pcr, case.issuer, case.now), then)


def signing(decision: Issue, case: Case, serial_number: int) -> SignAndIssue:
    ca = case.issuer.signing.ca
    if ca is None:  # issuer_usable Retries first when the issuer has no CA
        raise AssertionError("signing without a CA")
    pcr = case.pcr
    message = (
        f"signed serial {serial_hex(serial_number)} for pod {pcr.namespace}/{pcr.pod_name} "
        f"({', '.join(decision.leaf.uris)}), valid until {stamp(decision.not_after)}"
    )
    return SignAndIssue(
        with_issuer_pointers(decision.leaf, case.issuer),
        decision.public_key,
        ca,
        serial_number,
        decision.not_before,
        decision.not_after,
        decision.begin_refresh_at,
        Event("Normal", reasons.POD_CERTIFICATE_ISSUED, message),
    )


def refusal(decision: Deny | Fail, now: datetime) -> WriteStatus:
    kind = DENIED if isinstance(decision, Deny) else FAILED
    status = {"conditions": [condition(kind, decision.reason, decision.message, now)]}
    return WriteStatus(status, Event("Warning", decision.reason, decision.message))


def issued_status(plan: SignAndIssue, chain_pem: bytes, now: datetime) -> dict[str, Any]:
    """The Issued status: the chain, the leaf's exact validity and when the kubelet refreshes."""
    return {
        "conditions": [condition(ISSUED, plan.event.reason, plan.event.message, now)],
        "certificateChain": chain_pem.decode(),
        "notBefore": stamp(plan.not_before),
        "notAfter": stamp(plan.not_after),
        "beginRefreshAt": stamp(plan.begin_refresh_at),
    }


def condition(kind: str, reason: str, message: str, now: datetime) -> dict[str, Any]:
    """A metav1.Condition."""
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message.encode()[:MAX_MESSAGE].decode(errors="ignore"),
        "lastTransitionTime": stamp(now),
    }


def stamp(moment: datetime) -> str:
    """RFC 3339 in whole seconds, as the API server stores metav1.Time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _revocation(
    pcr: PodCertificateRequestObject, issuer: IssuerView, now: datetime
) -> RecordRevocation | Event | None:
    """A revoke annotation on an issued request whose certificate is not yet on the issuer's list
    (nor expired). Idempotent: once listed, nothing more is done, so the annotation may stay."""
    try:
        request = revoke_request(pcr.annotations)
    except ValueError as error:
        return Event("Warning", reasons.INVALID_SPEC, str(error)) if pcr.issued else None
    if request is None or not pcr.issued or not pcr.leaf_pem:
        return None
    try:
        leaf = load_certificates_pem(pcr.leaf_pem)[0]
    except (PKIError, IndexError):
        return None
    if leaf.serial_number in issuer.revoking.revoked_serials or leaf.not_valid_after_utc <= now:
        return None
    message = (
        f"revoked serial {serial_hex(leaf.serial_number)} ({request.reason}); it is on the issuer's CRL "
        "until it expires"
    )
    return RecordRevocation(leaf, request, Event("Normal", reasons.REVOKED, message))

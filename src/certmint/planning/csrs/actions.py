"""Decide, then do, for a CertificateSigningRequest: everything the operator signs, writes and
reports for one, decided at once before anything is written.

plan_signing_request judges the request (sign, approve, deny, fail or leave it); plan_actions
completes that: the revocation an annotation asks for, what to sign with which serial and CA (the
issuer's CRL and OCSP pointers included), the conditions to write and the event to report.
operator/csrs executes it and never comes back here.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from certmint.pki import CertificateAuthority, LeafRequest, PublicKey, leaf_validity, serial_hex
from certmint.planning import reasons
from certmint.planning.csrs.plan import (
    Approve,
    Case,
    Deny,
    Sign,
    plan_signing_request,
    revocation_due,
    with_condition,
)
from certmint.planning.csrs.signing_request import SigningRequestObject
from certmint.planning.events import Event
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import with_issuer_pointers
from certmint.planning.request import RevokeRequest


@dataclass(frozen=True)
class RecordRevocation:
    """Put the signed certificate on the issuer's list (the issuer then signs new CRLs)."""

    certificate: x509.Certificate
    request: RevokeRequest
    event: Event


@dataclass(frozen=True)
class SignChain:
    """Sign `leaf` for `public_key` with `ca`, and write the chain into the CSR's status."""

    leaf: LeafRequest
    """The request's names and usages, with the issuer's CRL distribution point and OCSP URL."""
    public_key: PublicKey
    ca: CertificateAuthority
    serial_number: int
    event: Event


@dataclass(frozen=True)
class WriteConditions:
    """Approve or deny (the approval subresource), or fail (the status subresource)."""

    approval: bool
    conditions: list[dict[str, Any]]
    event: Event


@dataclass(frozen=True)
class Retry:
    """The issuer is not ready yet: look again with backoff."""


@dataclass(frozen=True)
class Nothing:
    pass


@dataclass(frozen=True)
class CSRActions:
    revocation: RecordRevocation | Event | None
    """What a revoke annotation asks for: a revocation, or the Warning an unknown reason gets."""
    then: SignChain | WriteConditions | Retry | Nothing


def plan_actions(case: Case, serial_number: int) -> CSRActions:
    """`serial_number`: the serial a new certificate gets, drawn by the caller as `case.now` is."""
    csr, issuer, now = case.csr, case.issuer, case.now
    decision = plan_signing_request(case)
    then: SignChain | WriteConditions | Retry | Nothing
    if isinstance(decision, Sign):
        ca = issuer.signing.ca
        if ca is None:  # the gates fail first when the issuer has no CA
            raise AssertionError("signing without a CA")
        leaf = with_issuer_pointers(decision.spec.leaf, issuer)
        not_after = leaf_validity(leaf, ca, now)[1]
        message = (
            f"signed serial {serial_hex(serial_number)} for {csr.username}, valid until "
            f"{not_after:%Y-%m-%dT%H:%M:%SZ}"
        )
        then = SignChain(
            leaf, decision.public_key, ca, serial_number, Event("Normal", reasons.CSR_ISSUED, message)
        )
    elif isinstance(decision, Approve | Deny):
        kind = "Approved" if isinstance(decision, Approve) else "Denied"
        event = Event("Normal" if kind == "Approved" else "Warning", decision.reason, decision.message)
        then = WriteConditions(True, _conditions(csr, kind, decision.reason, decision.message, now), event)
    elif isinstance(decision, Fail):
        then = Retry() if decision.retryable else failed(csr, decision, now)
    else:
        then = Nothing()
    return CSRActions(_revocation(case), then)


def signer_refused(csr: SigningRequestObject, failure: Fail, now: datetime) -> WriteConditions | None:
    """A signer name certmint cannot serve fails an approved CSR that awaits its signature; any
    other is left alone (a denied, failed or signed CSR is final)."""
    awaits_signature = csr.approved and not (csr.denied or csr.failed or csr.certificate)
    return failed(csr, failure, now) if awaits_signature else None


def failed(csr: SigningRequestObject, failure: Fail, now: datetime) -> WriteConditions:
    """Failed is final: the requester fixes the request and sends a new CSR."""
    conditions = _conditions(csr, "Failed", failure.reason, failure.message, now)
    return WriteConditions(False, conditions, Event("Warning", failure.reason, failure.message))


def _revocation(case: Case) -> RecordRevocation | Event | None:
    """Recording is idempotent and skipped once the issuer lists the serial, so the annotation may stay."""
    try:
        due = revocation_due(case.csr, case.issuer, case.now)
    except ValueError as error:
        return Event("Warning", reasons.INVALID_SPEC, str(error))
    if due is None:
        return None
    leaf, request = due
    message = (
        f"revoked serial {serial_hex(leaf.serial_number)} ({request.reason}); it is on the issuer's CRL "
        "until it expires"
    )
    return RecordRevocation(leaf, request, Event("Normal", reasons.REVOKED, message))


def _conditions(
    csr: SigningRequestObject, kind: str, reason: str, message: str, now: datetime
) -> list[dict[str, Any]]:
    return with_condition([dict(condition) for condition in csr.conditions], kind, reason, message, now)

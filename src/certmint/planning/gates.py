"""The gates: the ordered checks that decide whether a request may be signed at all.

Shared by Certificates and CertificateSigningRequests: the first gate that fails says why (its
reason becomes the condition reason and the event), and nothing is signed.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from certmint.pki import PKIError, validate_leaf_request
from certmint.planning import reasons
from certmint.planning.constraints import constraint_denial
from certmint.planning.identity import control_character_field
from certmint.planning.issuer_view import IssuerView
from certmint.planning.ownership import Refusal
from certmint.planning.policy import policy_denial
from certmint.planning.request import IssuanceSpec


@dataclass(frozen=True)
class Fail:
    reason: str
    message: str
    retryable: bool
    """False when only a change of the Certificate itself can help."""


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

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
    """What the gates look at: a request to sign, from a Certificate or a CSR alike."""

    spec: IssuanceSpec
    issuer: IssuerView
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
    if issuer.ready and issuer.signing.ca is not None:
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
    signing = request.issuer.signing
    denial = policy_denial(signing.policy, request.spec, request.namespace_labels, signing.allow_ca)
    return None if denial is None else Fail(reasons.POLICY_DENIED, denial, retryable=False)


def within_name_constraints(request: Request) -> Fail | None:
    """The names must lie inside the name constraints of the issuer's CA and every CA above it."""
    ca = request.issuer.signing.ca
    if ca is None:
        return None
    denial = constraint_denial(ca, request.spec.leaf)
    return None if denial is None else Fail(reasons.OUTSIDE_NAME_CONSTRAINTS, denial, retryable=False)


def duration_within_issuer(request: Request) -> Fail | None:
    ca = request.issuer.signing.ca
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


GATES: tuple[Gate, ...] = (
    names_printable,
    issuer_exists,
    issuer_ready,
    request_valid,
    policy_allows,
    within_name_constraints,
    duration_within_issuer,
)
"""In order: the first that fails decides the Certificate's Ready=False reason (after these, a
Certificate's Secret passes planning.certificates.plan.SECRET_GATES); nothing is signed."""

SIGNING_REQUEST_GATES: tuple[Gate, ...] = (
    names_printable,
    issuer_ready,
    request_valid,
    policy_allows,
    within_name_constraints,
)
"""The gates of a request a signer judges (a CSR, a PodCertificateRequest), in GATES' order: the
issuer's existence is judged before them, and the CA caps the duration at signing instead."""

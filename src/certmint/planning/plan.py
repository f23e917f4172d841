"""The ordered chain of checks that decides whether a Certificate needs a new certificate.

Like cert-manager's trigger policies, but as one pure function: the first check that fires says
why (its reason becomes the condition reason and the event), and when none fires the plan says
when to look again.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from certmint.api.issuer import IssuancePolicy
from certmint.pki import (
    CertificateAuthority,
    PKIError,
    PrivateKey,
    key_matches_certificate,
    key_spec_of,
    load_certificates_pem,
    load_private_key_pem,
    summarize_certificate,
    validate_leaf_request,
)
from certmint.planning import labels
from certmint.planning.ocsp import OCSPResponder
from certmint.planning.policy import policy_denial
from certmint.planning.renewal import renewal_time, spread
from certmint.planning.request import IssuanceSpec
from certmint.planning.revocation import RevokeRequest
from certmint.planning.secret import output_keys


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
    ocsp: OCSPResponder | None = None
    """Answers OCSP requests for every CA of `crl_pem`; None unless the issuer sets an OCSP URL."""
    ocsp_url: str | None = None


@dataclass(frozen=True)
class SecretView:
    name: str
    data: Mapping[str, bytes]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class CurrentCertificate:
    """The parsed contents of a healthy Secret."""

    certificate: x509.Certificate
    private_key: PrivateKey


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


def plan_certificate(
    spec: IssuanceSpec,
    issuer: IssuerView,
    secret: SecretView | None,
    secret_owner_conflict: str | None,
    now: datetime,
    seed: str,
    namespace_labels: Mapping[str, str] | None = None,
) -> Plan:
    """`secret_owner_conflict` names another Certificate that already owns the Secret, if any;
    `namespace_labels` are the labels of the Certificate's namespace, for the issuer's policy."""
    if not issuer.exists:
        return Fail("IssuerNotFound", issuer.message, retryable=True)
    if not issuer.ready or issuer.ca is None:
        return Fail(
            "IssuerNotReady", f"issuer is not ready: {issuer.reason}: {issuer.message}", retryable=True
        )
    try:
        validate_leaf_request(spec.leaf)
    except PKIError as error:
        return Fail(error.reason, error.message, retryable=False)
    denial = policy_denial(issuer.policy, spec, namespace_labels or {})
    if denial is not None:
        return Fail("PolicyDenied", denial, retryable=False)
    ca = issuer.ca
    requested_end = now + spec.leaf.duration
    if requested_end > ca.certificate.not_valid_after_utc:
        return Fail(
            "DurationExceedsIssuer",
            f"duration {spec.leaf.duration} ends at {requested_end:%Y-%m-%dT%H:%M:%SZ}, after the issuer CA "
            f"expires at {ca.certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
            retryable=True,
        )
    if secret_owner_conflict is not None:
        return Fail(
            "SecretConflict",
            f"Secret {secret.name if secret else ''} is already managed by Certificate "
            f"{secret_owner_conflict}; choose another secretName",
            retryable=False,
        )
    if secret is None:
        return Issue("SecretMissing", "Secret does not exist")
    current = parse_secret(secret)
    if isinstance(current, Issue):
        return current
    return _check_current(current, spec, issuer, ca, secret, now, seed)


def parse_secret(secret: SecretView) -> CurrentCertificate | Issue:
    cert_pem = secret.data.get("tls.crt")
    key_pem = secret.data.get("tls.key")
    if not cert_pem or not key_pem:
        missing = [key for key in ("tls.crt", "tls.key") if not secret.data.get(key)]
        return Issue("SecretInvalid", f"Secret has no {' or '.join(missing)}")
    try:
        certificate = load_certificates_pem(cert_pem)[0]
    except PKIError as error:
        return Issue("SecretInvalid", f"tls.crt cannot be parsed: {error.message}")
    try:
        private_key = load_private_key_pem(key_pem)
    except PKIError as error:
        return Issue("SecretInvalid", f"tls.key cannot be parsed: {error.message}")
    return CurrentCertificate(certificate=certificate, private_key=private_key)


def _check_current(
    current: CurrentCertificate,
    spec: IssuanceSpec,
    issuer: IssuerView,
    ca: CertificateAuthority,
    secret: SecretView,
    now: datetime,
    seed: str,
) -> Plan:
    cert = current.certificate
    if not key_matches_certificate(current.private_key, cert):
        return Issue("KeyMismatch", "tls.key does not match the public key in tls.crt")
    reissue_at = None
    by_current = _issued_by(cert, ca.certificate)
    by_previous = (
        not by_current
        and issuer.previous is not None
        and issuer.activated_at is not None
        and _issued_by(cert, issuer.previous)
    )
    if not by_current and not by_previous:
        return Issue("IssuerChanged", "tls.crt was not signed by the issuer's current CA")
    revocation = _revocation(cert, spec, issuer, secret)
    if revocation is not None:
        return revocation
    if by_previous and issuer.activated_at is not None:
        # Signed by the CA that rotation just replaced: still trusted, so re-issue spread over the
        # window instead of all certificates of the issuer in the same second.
        reissue_at = issuer.activated_at + issuer.reissue_window * spread(seed)
        if now >= reissue_at:
            return Issue("CARotated", "tls.crt was signed by the previous CA of a rotated issuer")
    if secret.annotations.get(labels.SPEC_DIGEST) != spec.digest:
        return Issue("SpecChanged", "the Certificate spec changed since the certificate was issued")
    if spec.renew_request and secret.annotations.get(labels.RENEW_REQUEST) != spec.renew_request:
        return Issue("RenewRequested", f"renewal requested ({spec.renew_request})")
    mismatch = _content_mismatch(current, spec)
    if mismatch:
        return Issue("SpecChanged", mismatch)
    missing_outputs = [key for key in output_keys(spec) if not secret.data.get(key)]
    if missing_outputs:
        return Issue("SecretIncomplete", f"Secret lacks {', '.join(missing_outputs)}")
    renew_at = renewal_time(
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        spec.renew_before,
        spec.renew_before_percentage,
        seed,
    )
    if now >= cert.not_valid_after_utc:
        return Issue("Expired", f"certificate expired at {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
    if now >= renew_at:
        return Issue("Renewing", f"renewal time {renew_at:%Y-%m-%dT%H:%M:%SZ} reached")
    return Wait(current=current, renewal_time=min(renew_at, reissue_at) if reissue_at else renew_at)


def _revocation(
    cert: x509.Certificate, spec: IssuanceSpec, issuer: IssuerView, secret: SecretView
) -> Revoke | Issue | Fail | None:
    request = spec.revoke
    if request is not None and secret.annotations.get(labels.REVOKE_REQUEST) != request.token:
        return Revoke(cert, request)
    if cert.serial_number not in issuer.revoked_serials:
        return None
    serial = format(cert.serial_number, "x")
    renewal_asked = spec.renew_request and secret.annotations.get(labels.RENEW_REQUEST) != spec.renew_request
    if request is None or request.reissue or renewal_asked:
        return Issue("Revoked", f"certificate serial {serial} was revoked")
    return Fail(
        "Revoked",
        f"certificate serial {serial} was revoked and {labels.REVOKE_REISSUE} is false; remove that "
        "annotation or run `certmint renew` to issue a new one",
        retryable=False,
    )


def _ip_set(addresses: tuple[str, ...]) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {ipaddress.ip_address(address) for address in addresses}


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _content_mismatch(current: CurrentCertificate, spec: IssuanceSpec) -> str:
    """Catches a tls.crt replaced by another valid certificate of the same CA and key."""
    summary = summarize_certificate(current.certificate)
    leaf = spec.leaf
    if sorted(summary.dns_names) != sorted(leaf.dns_names):
        return f"tls.crt DNS names {list(summary.dns_names)} differ from the spec {list(leaf.dns_names)}"
    if sorted(summary.uris) != sorted(leaf.uris):
        return f"tls.crt URIs {list(summary.uris)} differ from the spec {list(leaf.uris)}"
    if _ip_set(summary.ip_addresses) != _ip_set(leaf.ip_addresses):
        return f"tls.crt IP addresses {list(summary.ip_addresses)} differ from the spec"
    if sorted(summary.email_addresses) != sorted(leaf.email_addresses):
        return "tls.crt email addresses differ from the spec"
    if key_spec_of(current.private_key) != spec.key:
        return f"key is {summary.key_type}, the spec asks for {spec.key.algorithm} {spec.key.size}"
    return ""

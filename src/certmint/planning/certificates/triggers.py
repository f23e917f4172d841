"""The triggers: the ordered checks that decide whether a healthy-looking Secret needs a new
certificate. Like cert-manager's trigger policies: the first that fires says why."""

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from certmint.pki import CertificateAuthority, alt_names, issued_by, key_type, serial_hex
from certmint.planning import labels, reasons
from certmint.planning.certificates.renewal import renewal_time, spread
from certmint.planning.certificates.results import CurrentCertificate, Issue, Plan, Revoke
from certmint.planning.certificates.secret import issuer_annotations, output_keys, recorded_issuer
from certmint.planning.certificates.secret_view import SecretView
from certmint.planning.defaults import Resolved
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView
from certmint.planning.request import IssuanceSpec


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
    resolved: Resolved | None = None
    """The issuer the Certificate resolved to; None in tests that plan an explicit issuerRef."""
    former_default_reissue_at: datetime | None = None
    """Following the default, with a certificate a former default signed: this certificate's point
    in the new default's spread re-issue window, from when it became the default."""


Trigger = Callable[[Facts], Plan | None]


def adopted(facts: Facts) -> Issue | None:
    """A Secret certmint never wrote (neither its spec digest nor its UID marking: made by another
    tool, e.g. cert-manager, and invited for adoption) is issued once, in place, even if its
    certificate is valid and from the same CA: certmint cannot tell what else it was issued with
    (subject, usages, lifetime), and from then on the Secret carries certmint's markings and renewal
    schedule."""
    annotations = facts.secret.annotations
    if labels.SPEC_DIGEST in annotations or labels.CERTIFICATE_UID in annotations:
        return None
    return Issue(
        reasons.ADOPTED,
        "the Secret was not written by certmint: its certificate is replaced once, in place",
    )


def key_mismatch(facts: Facts) -> Issue | None:
    if facts.current.key_matches:
        return None
    return Issue(reasons.KEY_DOES_NOT_MATCH, "tls.key does not match the public key in tls.crt")


def issuer_changed(facts: Facts) -> Issue | None:
    """At once, unless the default moved: default_changed spreads those."""
    if facts.signed_by != SignedBy.OTHER or facts.former_default_reissue_at is not None:
        return None
    return Issue(reasons.ISSUER_CHANGED, "tls.crt was not signed by the issuer's current CA")


def default_changed(facts: Facts) -> Issue | None:
    """Another issuer became the default: its followers are re-issued spread over its reissueWindow
    instead of all in the same second, as after a CA rotation."""
    due = facts.former_default_reissue_at
    if due is None or facts.now < due:
        return None
    recorded = recorded_issuer(facts.secret.annotations)
    if facts.resolved is None:  # only a resolved default has a due point
        raise AssertionError("a default change without the resolved issuer")
    ref = facts.resolved.ref
    return Issue(
        reasons.DEFAULT_ISSUER_CHANGED,
        f"the default issuer is now {ref.kind.value} {ref.name}; tls.crt was issued by "
        f"{recorded.get(labels.ISSUER_KIND, '')} {recorded.get(labels.ISSUER_NAME, '')}",
    )


def revocation(facts: Facts) -> Plan | None:
    """A revoke request not yet served revokes; a revoked certificate is replaced, unless the
    request said not to re-issue."""
    cert, spec, secret = facts.current.certificate, facts.spec, facts.secret
    request = spec.revoke
    if request is not None and secret.annotations.get(labels.REVOKE_REQUEST) != request.token:
        return Revoke(cert, request)
    if cert.serial_number not in facts.issuer.revoking.revoked_serials:
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
    adopted,
    key_mismatch,
    issuer_changed,
    default_changed,
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
fires, the Certificate waits until its renewal time, its CA-rotation or its default-change re-issue
point, whichever comes first. A leaf whose renewal falls between CA activation and its re-issue
point is renewed (Renewing) by the new CA; one whose re-issue point comes first is re-issued
(CARotated)."""


def judge(
    current: CurrentCertificate,
    spec: IssuanceSpec,
    issuer: IssuerView,
    ca: CertificateAuthority,
    secret: SecretView,
    now: datetime,
    seed: str,
    resolved: Resolved | None = None,
) -> Facts:
    cert, signing = current.certificate, issuer.signing
    if issued_by(cert, ca.certificate):
        signed_by = SignedBy.CURRENT
    elif signing.previous is not None and signing.activated_at and issued_by(cert, signing.previous):
        signed_by = SignedBy.PREVIOUS
    else:
        signed_by = SignedBy.OTHER
    reissue_at = (
        signing.activated_at + signing.reissue_window * spread(seed)
        if signed_by == SignedBy.PREVIOUS and signing.activated_at is not None
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
    return Facts(
        current,
        spec,
        issuer,
        secret,
        now,
        signed_by,
        renew_at,
        reissue_at,
        resolved,
        _former_default_reissue_at(resolved, signed_by, secret, signing.default_change_window, seed),
    )


def _former_default_reissue_at(
    resolved: Resolved | None, signed_by: SignedBy, secret: SecretView, window: timedelta, seed: str
) -> datetime | None:
    """Only a follower whose Secret records another issuer (the former default) than the one it
    resolves to, and whose certificate that one's current CA did not sign."""
    if resolved is None or resolved.default_since is None or signed_by == SignedBy.CURRENT:
        return None
    recorded = recorded_issuer(secret.annotations)
    if len(recorded) < 2 or recorded == issuer_annotations(resolved.ref):
        return None
    return resolved.default_since + window * spread(seed)


def _renewal_requested(facts: Facts) -> bool:
    token = facts.spec.renew_request
    return bool(token) and facts.secret.annotations.get(labels.RENEW_REQUEST) != token


def _ip_set(addresses: tuple[str, ...]) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {ipaddress.ip_address(address) for address in addresses}


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

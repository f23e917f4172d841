"""Decide, then do: everything a reconcile of a Certificate signs, writes and reports, decided at
once from what was read, before anything is signed or written.

plan_certificate says *whether* to issue (the gates and triggers); plan_actions completes that
into what the operator does: what to sign and with which serial, the Secret's data keys, labels,
annotations and owner reference (or the heal of its metadata), and the status and event to
report. operator/certificates executes it and never comes back here.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from certmint.api import Certificate
from certmint.api.certificate import CertificateStatus, IssuerRef, RotationPolicy
from certmint.pki import (
    CertificateAuthority,
    alt_names,
    leaf_validity,
    requested_alt_names,
    serial_hex,
)
from certmint.planning import labels, reasons
from certmint.planning.certificates.plan import contested_repair, plan_certificate
from certmint.planning.certificates.renewal import renewal_time
from certmint.planning.certificates.restart import Recorded
from certmint.planning.certificates.results import Issue, Revoke, Wait
from certmint.planning.certificates.secret import (
    SecretMetadata,
    issuer_annotations,
    metadata_drift,
    output_keys,
    recorded_issuer,
    secret_metadata,
)
from certmint.planning.certificates.secret_view import TLS_SECRET_TYPE, SecretContents, SecretView
from certmint.planning.contest import contest_annotations
from certmint.planning.defaults import Resolved
from certmint.planning.events import Event
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView, with_issuer_pointers
from certmint.planning.ownership import Refusal, may_reference_owner, ownership_annotations
from certmint.planning.request import IssuanceSpec
from certmint.planning.status import certificate_ready


@dataclass(frozen=True)
class Inputs:
    """Everything a Certificate is planned from: the Certificate, its issuer, its Secret as the
    watch reported it, and what the operator knows of the Secret's other claimants."""

    certificate: Certificate
    spec: IssuanceSpec
    issuer: IssuerView
    secret: SecretView | None
    owner_conflict: str | None
    """Another Certificate that already owns the Secret, if any."""
    secret_refusal: Refusal | None
    """Why the Secret is not this Certificate's to write (planning.ownership), if it is not."""
    namespace_labels: Mapping[str, str]
    now: datetime
    serial_number: int
    """The serial a new certificate gets: drawn by the caller, as `now` is, so the plan is pure."""
    resolved: Resolved
    """The issuer `issuer` is the view of: spec.issuerRef, or the default (planning.defaults)."""
    bucket: str = ""
    """The bucket label its Secret carries (planning.shards); "" with a single replica."""
    first_look: bool = False
    """The first plan of this Certificate in this process (a start): its status may then stand in for
    the triggers when everything agrees (planning.certificates.restart)."""


@dataclass(frozen=True)
class SecretWrite:
    """The Secret as certmint writes it: every field certmint owns."""

    name: str
    create: bool
    """A plain create (the Secret does not exist): whoever creates it first keeps it."""
    data_keys: tuple[str, ...]
    labels: dict[str, str]
    annotations: dict[str, str]
    owner_reference: bool
    """Whether the Secret names the Certificate as its owner, so it is deleted with it."""


@dataclass(frozen=True)
class Report:
    """What the reconcile reports when it is done: the status, and when to look again."""

    status: CertificateStatus
    not_after: datetime
    renew_at: datetime


@dataclass(frozen=True)
class SignAndWrite:
    """Sign a new certificate and write it, with its key and CAs, into the Secret."""

    why: Issue
    spec: IssuanceSpec
    """What to sign: the spec, with the issuer's CRL distribution point and OCSP URL."""
    ca: CertificateAuthority
    serial_number: int
    reuse_key: bool
    """rotationPolicy Never and the Secret's key still fits: signed for that key if it is still
    readable, else for a new one."""
    secret: SecretWrite
    report: Report
    event: Event


@dataclass(frozen=True)
class Keep:
    """The certificate stays; its Secret's metadata is healed if someone changed it."""

    current: Wait
    heal: SecretWrite | None
    report: Report


@dataclass(frozen=True)
class RevokeCurrent:
    """Put the current certificate on the issuer's list, then mark the request served on the
    Secret; the Certificate is planned again once the issuer lists it."""

    revoke: Revoke
    served: dict[str, str]
    """The Secret's annotations that mark the revoke request served."""
    event: Event


@dataclass(frozen=True)
class Hold:
    """Another writer keeps changing the Secret: reported, and repaired only at `until`."""

    failure: Fail
    until: datetime


Actions = SignAndWrite | Keep | Hold | RevokeCurrent | Fail


def plan_actions(inputs: Inputs) -> Actions:
    """The gates and triggers decide (plan_certificate); a repair another writer keeps undoing
    waits for its backoff (planning.contest); the rest is what doing it takes."""
    spec, now = inputs.spec, inputs.now
    decision = plan_certificate(
        spec,
        inputs.issuer,
        inputs.secret,
        inputs.owner_conflict,
        now,
        seed=inputs.certificate.metadata.uid,
        namespace_labels=inputs.namespace_labels,
        secret_refusal=inputs.secret_refusal,
        resolved=inputs.resolved,
        recorded=_recorded(inputs.certificate) if inputs.first_look else None,
    )
    contest = contested_repair(decision, spec, inputs.secret, now)
    if contest is not None and contest.due > now:
        message = contest.message("Secret", inputs.certificate.spec.secret_name)
        return Hold(Fail(reasons.SECRET_CONTESTED, message, retryable=False), contest.due)
    if isinstance(decision, Issue):
        return _sign_and_write(inputs, decision, contest_annotations(contest))
    if isinstance(decision, Wait):
        return _keep(inputs, decision)
    if isinstance(decision, Revoke):
        return _revoke(decision)
    return decision


def _recorded(certificate: Certificate) -> Recorded:
    metadata = certificate.metadata
    return Recorded(generation=metadata.generation, uid=metadata.uid, status=certificate.status)


def _sign_and_write(inputs: Inputs, why: Issue, contest_markings: dict[str, str]) -> SignAndWrite:
    certificate, issuer, secret, now = inputs.certificate, inputs.issuer, inputs.secret, inputs.now
    ca = issuer.signing.ca
    if ca is None:  # the gates fail first when the issuer has no CA
        raise AssertionError("issuing without a CA")
    spec = replace(inputs.spec, leaf=with_issuer_pointers(inputs.spec.leaf, issuer))
    not_before, not_after = leaf_validity(spec.leaf, ca, now)
    markings = {**ownership_annotations(secret, certificate.metadata.uid), **contest_markings}
    names = requested_alt_names(spec.leaf)
    signer = inputs.resolved.ref
    metadata = secret_metadata(
        certificate, inputs.serial_number, names, spec, issuer_annotations(signer), markings, inputs.bucket
    )
    renew_at = _renewal(spec, certificate, not_before, not_after)
    revision = (certificate.status.revision or 0) + 1
    status = _ready(certificate, signer, inputs.serial_number, not_before, not_after, renew_at, revision, now)
    event = _issued_event(certificate, why)
    message = (
        f"{why.reason}: {why.message}; issued serial {serial_hex(inputs.serial_number)}, valid until "
        f"{not_after:%Y-%m-%dT%H:%M:%SZ}"
    )
    return SignAndWrite(
        why=why,
        spec=spec,
        ca=ca,
        serial_number=inputs.serial_number,
        reuse_key=_reuses_key(inputs.spec, secret, why),
        secret=_write(certificate, secret, output_keys(spec), metadata),
        report=Report(status, not_after, renew_at),
        event=Event("Normal", event, message),
    )


def _keep(inputs: Inputs, wait: Wait) -> Keep:
    certificate, secret = inputs.certificate, inputs.secret
    leaf = wait.current.certificate
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    revision = certificate.status.revision or 1
    status = _ready(
        certificate,
        inputs.resolved.ref,
        leaf.serial_number,
        not_before,
        not_after,
        wait.renewal_time,
        revision,
        inputs.now,
    )
    report = Report(status, not_after, wait.renewal_time)
    if secret is None:  # a Wait judged the Secret's certificate
        raise AssertionError("keeping a certificate without its Secret")
    markings = ownership_annotations(secret, certificate.metadata.uid)
    # Until its re-issue is due, the Secret keeps naming the former default that signed it.
    signer = (
        recorded_issuer(secret.annotations)
        if wait.former_default
        else issuer_annotations(inputs.resolved.ref)
    )
    metadata = secret_metadata(
        certificate, leaf.serial_number, alt_names(leaf), inputs.spec, signer, markings, inputs.bucket
    )
    drifted = metadata_drift(
        metadata, secret.labels, secret.annotations, secret.written_cert_manager_annotations
    )
    if not drifted and secret.secret_type == TLS_SECRET_TYPE:
        return Keep(wait, None, report)
    # Someone removed or changed our labels or annotations: put back without re-issuing.
    return Keep(wait, _write(certificate, secret, tuple(sorted(secret.present_keys)), metadata), report)


def _revoke(revoke: Revoke) -> RevokeCurrent:
    serial, reason = serial_hex(revoke.certificate.serial_number), revoke.request.reason
    message = f"revoked serial {serial} ({reason}); it is on the issuer's CRL until it expires"
    served = {labels.REVOKE_REQUEST: revoke.request.token}
    return RevokeCurrent(revoke, served, Event("Normal", reasons.REVOKED, message))


def _write(
    certificate: Certificate,
    secret: SecretView | None,
    data_keys: list[str] | tuple[str, ...],
    metadata: SecretMetadata,
) -> SecretWrite:
    cleanup = certificate.spec.cleanup_secret_on_delete
    return SecretWrite(
        name=certificate.spec.secret_name,
        create=secret is None,
        data_keys=tuple(data_keys),
        labels=metadata.labels,
        annotations=metadata.annotations,
        owner_reference=cleanup and (secret is None or may_reference_owner(secret, certificate.metadata.uid)),
    )


def _reuses_key(spec: IssuanceSpec, secret: SecretView | None, why: Issue) -> bool:
    """A revoked certificate's key may be what was compromised: never reused."""
    if why.reason == reasons.REVOKED or spec.rotation_policy != RotationPolicy.NEVER or secret is None:
        return False
    contents = secret.contents
    return isinstance(contents, SecretContents) and contents.key_spec == spec.key


def _renewal(
    spec: IssuanceSpec, certificate: Certificate, not_before: datetime, not_after: datetime
) -> datetime:
    return renewal_time(
        not_before,
        not_after,
        spec.renew_before,
        spec.renew_before_percentage,
        certificate.metadata.uid,
        spec.leaf.duration,
    )


def _ready(
    certificate: Certificate,
    issuer_ref: IssuerRef,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
    renew_at: datetime,
    revision: int,
    now: datetime,
) -> CertificateStatus:
    generation = certificate.metadata.generation
    return certificate_ready(
        certificate.status,
        issuer_ref,
        serial_number,
        not_before,
        not_after,
        renew_at,
        revision,
        generation,
        now,
    )


def _issued_event(certificate: Certificate, why: Issue) -> str:
    if not certificate.status.serial_number:
        return reasons.ISSUED
    return reasons.RENEWED if why.reason in reasons.RENEWAL_TRIGGERS else reasons.REISSUED
